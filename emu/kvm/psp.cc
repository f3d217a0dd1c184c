// emu/kvm/psp.cc: the hypervisor's AMD-SP driver (see kvm.h, class Psp). Source: Linux
// drivers/crypto/ccp/sev-dev.c (__sev_do_cmd_locked: the buffer is copied into a driver page,
// the command id written to the mailbox, the status polled, output copied back).
#include <algorithm>

#include "base/hex.h"
#include "emu/kvm/kvm.h"

namespace snpemu::kvm {

hv::KvmResult<void> Psp::command(fw::CommandId id, std::span<const uint8_t> in, cpu::Core& core,
                                 std::span<uint8_t> out) {
  if (in.size() > kPageSize || out.size() > kPageSize) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEinval, "command buffer larger than a page"});
  }
  // The driver's buffer page: the command's bytes, the rest zero (stale bytes of an earlier
  // command must not reach the firmware as reserved fields).
  std::array<uint8_t, kPageSize> page{};
  std::copy(in.begin(), in.end(), page.begin());
  if (!mem_.write(buffer_, page)) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEio, "PSP command buffer at " + hex(buffer_.value) + " is outside RAM"});
  }
  last_status_ = fw_.command(id, buffer_);
  const fw::CommandWork& w = fw_.last_work();
  core.account(cpu::Cost::kPspCommand);
  core.account(cpu::Cost::kPspRmpAccess, uint64_t{w.rmp_reads} + w.rmp_writes);
  core.account(cpu::Cost::kPspPageHash, w.pages_hashed);
  core.account(cpu::Cost::kPspDigestStep, w.digest_steps);
  core.account(cpu::Cost::kPspPageWrite, w.pages_written);
  core.account(cpu::Cost::kPspPageEncrypt, w.pages_encrypted);
  core.account(cpu::Cost::kPspSign, w.signatures);
  core.account(cpu::Cost::kPspAead, w.aead_messages);
  if (!out.empty()) (void)mem_.read(buffer_, out);
  if (last_status_ != fw::Status::kSuccess) {
    return std::unexpected(hv::KvmError{
        hv::KvmErrno::kEio, std::string(fw::command_name(id)) + " failed with " +
                                std::string(fw::status_name(last_status_)) +
                                (fw_.last_error().empty() ? "" : ": " + fw_.last_error())});
  }
  return {};
}

namespace {

bool writes_buffer(fw::CommandId id) {  // [L] sev-dev.c sev_cmd_buf_writable
  return id == fw::CommandId::kPlatformStatus || id == fw::CommandId::kGuestStatus ||
         id == fw::CommandId::kLaunchStart || id == fw::CommandId::kLaunchMeasure;
}

}  // namespace

hv::KvmResult<void> Psp::legacy_command(fw::CommandId id, std::span<const uint8_t> in, cpu::Core& core,
                                        std::span<uint8_t> out,
                                        std::span<const std::pair<Hpa, uint64_t>> written) {
  if (fw_.platform_state() != fw::PlatformState::kInit) return command(id, in, core, out);
  std::vector<uint64_t> pages;  // PFNs made firmware-owned, in order, no duplicates
  auto add = [&pages](Hpa at, uint64_t len) {
    if (len == 0) return;
    for (uint64_t p = at.value >> kPageShift; p <= (at.value + len - 1) >> kPageShift; ++p) {
      if (std::find(pages.begin(), pages.end(), p) == pages.end()) pages.push_back(p);
    }
  };
  if (writes_buffer(id)) add(buffer_, kPageSize);
  for (const auto& [at, len] : written) add(at, len);
  rmp::RmpStateView firmware;
  firmware.assigned = 1;
  firmware.immutable = 1;
  size_t made = 0;
  std::optional<hv::KvmError> failure;
  for (; made < pages.size(); ++made) {
    auto r = core.rmpupdate(pages[made] << kPageShift, firmware);
    if (!r || r->rc != rmp::RmpRc::kSuccess) {
      failure = hv::KvmError{hv::KvmErrno::kEio, "RMPUPDATE of hpa " + hex(pages[made] << kPageShift) +
                                                   " to firmware-owned failed before " +
                                                   std::string(fw::command_name(id))};
      break;
    }
  }
  hv::KvmResult<void> result = failure ? hv::KvmResult<void>(std::unexpected(*failure)) : command(id, in, core, out);
  const fw::Status status = last_status_;
  // snp_reclaim_cmd_buf: every page back (a page that cannot be reclaimed would be leaked).
  Psp backup(fw_, mem_, backup_, backup_);
  for (size_t i = 0; i < made; ++i) {
    const Hpa page{pages[i] << kPageShift};
    bool ok = backup.command(fw::CommandId::kSnpPageReclaim, fw::serialize(fw::CmdPageAddr{page, false}), core)
                  .has_value();
    if (ok) {
      auto r = core.rmpupdate(page.value, rmp::RmpStateView{});
      ok = r && r->rc == rmp::RmpRc::kSuccess;
    }
    if (!ok && result) {
      result = std::unexpected(hv::KvmError{hv::KvmErrno::kEio, "reclaiming hpa " + hex(page.value) + " after " +
                                                                  std::string(fw::command_name(id)) + " failed"});
    }
  }
  last_status_ = status;
  return result;
}

}  // namespace snpemu::kvm
