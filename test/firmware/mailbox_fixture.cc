// test/firmware/mailbox_fixture.cc: see mailbox_fixture.h.
#include "test/firmware/mailbox_fixture.h"

#include <cstdlib>
#include <string_view>

namespace snpemu::fw::test {

std::vector<uint8_t> test_seed() {
  constexpr std::string_view kSeed = "snpemu-test-seed-0001";
  return {kSeed.begin(), kSeed.end()};
}

FirmwareConfig test_config() {
  FirmwareConfig c;
  c.platform_seed = test_seed();
  c.current_tcb = encode_tcb({.boot_loader = 3, .tee = 0, .snp = 8, .microcode = 115},
                             TcbLayout::kMilanGenoa);
  c.reported_tcb = c.current_tcb;
  c.committed_tcb = c.current_tcb;
  for (uint8_t i = 0; i < 64; ++i) c.chip_id[i] = i;
  c.cpuid_rules = {CpuidRule{0, 0, {~0u, ~0u, ~0u, ~0u}, {}},
                   CpuidRule{1, 0, {~0u, ~0u, ~0u, ~0u}, {}}};
  return c;
}

Host Host::make(FirmwareConfig config) { return make_with(std::move(config), false, 0); }

Host Host::make_encrypted(FirmwareConfig config, uint32_t max_key_asid) {
  return make_with(std::move(config), true, max_key_asid);
}

Host Host::make_with(FirmwareConfig config, bool encrypted, uint32_t max_key_asid) {
  Host h;
  if (encrypted) h.keys = std::make_unique<memcrypt::KeyTable>(max_key_asid);
  auto mem = Memory::create(kRamSize);
  if (!mem) std::abort();
  h.mem = std::move(*mem);
  auto rmp = rmp::Rmp::create(*h.mem, rmp::RmpMsrs{rmp::kSyscfgSnpEn, kRmpBase, kRamSize - 1, 0});
  if (!rmp) std::abort();
  h.rmp.emplace(std::move(*rmp));
  auto fw = Firmware::create(*h.mem, *h.rmp, std::move(config), h.keys.get());
  if (!fw) std::abort();
  h.fw.emplace(std::move(*fw));
  return h;
}

Status Host::run(CommandId id, const std::vector<uint8_t>& buf) {
  std::vector<uint8_t> page(kPageSize, 0);
  std::copy(buf.begin(), buf.begin() + std::min(buf.size(), page.size()), page.begin());
  write(kCmdBuf, page);
  return fw->command(id, kCmdBuf);
}

rmp::RmpRc Host::make_firmware(Hpa page) {
  rmp::RmpStateView s;
  s.assigned = 1;
  s.immutable = 1;
  return rmp::rmpupdate(*rmp, page, s).rc;
}

rmp::RmpRc Host::make_pre_guest(Hpa page, Asid asid, Gpa gpa, bool immutable) {
  rmp::RmpStateView s;
  s.assigned = 1;
  s.immutable = immutable ? 1 : 0;
  s.asid = asid.value;
  s.gpa = gpa.value;
  return rmp::rmpupdate(*rmp, page, s).rc;
}

rmp::RmpRc Host::make_shared(Hpa page) { return rmp::rmpupdate(*rmp, page, {}).rc; }

Status Host::gctx_create(Hpa gctx) {
  if (make_firmware(gctx) != rmp::RmpRc::kSuccess) std::abort();
  return run(CommandId::kSnpGctxCreate, serialize(CmdAddr{gctx}));
}

Status Host::launch_start(Hpa gctx, uint64_t policy) {
  CmdLaunchStart c;
  c.gctx_paddr = gctx;
  c.policy = policy;
  return run(CommandId::kSnpLaunchStart, serialize(c));
}

Status Host::activate(Hpa gctx, Asid asid) {
  return run(CommandId::kSnpActivate, serialize(CmdActivate{gctx, asid}));
}

Status Host::launch_update(Hpa gctx, Hpa page, PageType type, uint8_t vmpl1_perms) {
  CmdLaunchUpdate c;
  c.gctx_paddr = gctx;
  c.page_type = type;
  c.address = page;
  c.vmpl1_perms = vmpl1_perms;
  return run(CommandId::kSnpLaunchUpdate, serialize(c));
}

Status Host::launch_finish(Hpa gctx, std::array<uint8_t, 32> host_data) {
  CmdLaunchFinish c;
  c.gctx_paddr = gctx;
  c.host_data = host_data;
  return run(CommandId::kSnpLaunchFinish, serialize(c));
}

Status Host::reclaim(Hpa page) {
  return run(CommandId::kSnpPageReclaim, serialize(CmdPageAddr{page, false}));
}

Status Host::decommission(Hpa gctx) {
  return run(CommandId::kSnpDecommission, serialize(CmdAddr{gctx}));
}

Status Host::start_guest(Hpa gctx, Asid asid, uint64_t policy) {
  if (Status s = gctx_create(gctx); s != Status::kSuccess) return s;
  if (Status s = launch_start(gctx, policy); s != Status::kSuccess) return s;
  return activate(gctx, asid);
}

void Host::write(Hpa pa, std::span<const uint8_t> bytes) {
  if (!mem->write(pa, bytes)) std::abort();
}

std::vector<uint8_t> Host::read(Hpa pa, size_t size) const {
  std::vector<uint8_t> out(size);
  if (!mem->read(pa, out)) std::abort();
  return out;
}

}  // namespace snpemu::fw::test
