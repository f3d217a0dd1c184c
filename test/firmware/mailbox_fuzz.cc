// libFuzzer entry point for the mailbox: random sequences of firmware commands with random
// buffers (address fields biased towards a pool of 8 pages of one 2 MiB region) interleaved with
// hypervisor RMPUPDATE / PSMASH / WBINVD steps, all through Firmware::command on a fresh host.
// After every step: Firmware::check_invariants() is empty (context pages in the Context state,
// no page both firmware-owned and launched into a guest, launched pages owned by their guest's
// ASID, one guest per ASID, with a KeyTable every bound ASID's slot holding its guest's VEK);
// and after every failed command the firmware fingerprint, the RMP entries, the key slots and the
// contents of every pool page are unchanged. Half of the inputs run with memory encryption (the
// firmware programs a KeyTable), half without. One written exclusion: a CPUID
// LAUNCH_UPDATE refused with INVALID_PARAM writes the corrected CPUID page back, as the spec says
// (PLATFORM-FACTS 8.3), so that page's contents may change. Any violation traps. The legacy SEV /
// SEV-ES commands (INIT ... LAUNCH_FINISH) are in the command list too, with typed buffers naming
// handles 1..4; bit 6 of the prelude initialises the legacy platform instead of SNP.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"

namespace {

using namespace snpemu;
using namespace snpemu::fw;

constexpr uint64_t kPoolBase = 0x200000;
constexpr uint64_t kPoolPages = 8;
constexpr uint64_t kTmr = 0x3000000;  // the legacy SEV-ES TMR (2 MiB aligned, outside the pool)

// Weighted: launch commands appear several times, SHUTDOWN once (it ends everything).
constexpr CommandId kIds[] = {
    CommandId::kSnpInit,         CommandId::kSnpShutdown,      CommandId::kSnpPlatformStatus,
    CommandId::kSnpDfFlush,      CommandId::kSnpInitEx,        CommandId::kSnpShutdownEx,
    CommandId::kSnpDecommission, CommandId::kSnpActivate,      CommandId::kSnpGuestStatus,
    CommandId::kSnpGctxCreate,   CommandId::kSnpGuestRequest,  CommandId::kSnpLaunchStart,
    CommandId::kSnpLaunchUpdate, CommandId::kSnpLaunchFinish,  CommandId::kSnpPageReclaim,
    CommandId::kSnpPageUnsmash,  CommandId::kSnpLaunchUpdate,  CommandId::kSnpGctxCreate,
    CommandId::kSnpActivate,     CommandId::kSnpLaunchStart,   CommandId::kSnpLaunchUpdate,
    CommandId::kSnpLaunchUpdate, CommandId::kSnpLaunchFinish,  CommandId::kSnpPageReclaim,
    CommandId::kSnpGctxCreate,   CommandId::kSnpActivate,      CommandId::kSnpLaunchStart,
    CommandId::kSnpLaunchUpdate, CommandId::kSnpLaunchUpdate,  CommandId::kSnpInit,
    CommandId{0x0B0},            CommandId{0x7F},
    // Legacy SEV / SEV-ES (sev_*.cc); LAUNCH_UPDATE_SECRET is UNSUPPORTED.
    CommandId::kInit,              CommandId::kShutdown,          CommandId::kPlatformStatus,
    CommandId::kDfFlush,           CommandId::kInitEx,            CommandId::kDecommission,
    CommandId::kActivate,          CommandId::kDeactivate,        CommandId::kGuestStatus,
    CommandId::kLaunchStart,       CommandId::kLaunchUpdateData,  CommandId::kLaunchUpdateVmsa,
    CommandId::kLaunchMeasure,     CommandId::kLaunchUpdateSecret, CommandId::kLaunchFinish,
    CommandId::kLaunchStart,       CommandId::kActivate,          CommandId::kLaunchUpdateData,
    CommandId::kLaunchUpdateData,  CommandId::kLaunchUpdateVmsa,  CommandId::kLaunchMeasure,
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "mailbox_fuzz: invariant broken: %s\n", what);
    __builtin_trap();
  }
}

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool done() const { return at >= size; }
  uint8_t u8() { return at < size ? data[at++] : 0; }
};

Hpa pool_page(uint8_t n) { return Hpa{kPoolBase + (n % kPoolPages) * kPageSize}; }

// Typed ACTIVATE buffers name ASIDs below 256.
constexpr uint32_t kFuzzAsids = 256;

struct Snapshot {
  Digest384 fingerprint;
  std::vector<rmp::RmpEntry> entries;
  std::vector<uint8_t> memory;
  std::vector<uint32_t> key_generations;  // per ASID, empty without a KeyTable
};

Snapshot snapshot(const test::Host& h) {
  Snapshot s{h.fw->fingerprint(), {}, h.read(Hpa{kPoolBase}, kPoolPages * kPageSize), {}};
  for (uint64_t i = 0; i < kPoolPages; ++i) s.entries.push_back(h.entry(pool_page(i)));
  if (h.keys) {
    for (uint32_t a = 0; a < kFuzzAsids; ++a) {
      s.key_generations.push_back(h.keys->generation(Asid{a}));
    }
  }
  return s;
}

void hypervisor_step(test::Host& h, Reader& r) {
  const uint8_t op = r.u8();
  const Hpa page = pool_page(r.u8());
  const uint8_t arg = r.u8();
  switch (op % 10) {
    case 0:
      h.make_firmware(page);
      break;
    case 1:
    case 7:
    case 8:
    case 9:
      h.make_pre_guest(page, Asid{1u + arg % 3}, Gpa{static_cast<uint64_t>(arg % 8) << 12},
                       (op & 0x80) == 0);
      break;
    case 2:
      h.make_shared(page);
      break;
    case 3:
      rmp::psmash(*h.rmp, Hpa{kPoolBase});
      break;
    case 4:
      h.fw->note_wbinvd_all_cpus();
      break;
    case 5:
    case 6: {  // the hypervisor writes a page it may write (RMP host check): a small CPUID table
      if (!rmp::check_host_access(*h.rmp, {page, rmp::AccessType::kWrite}).fault) {
        CpuidPage cp;
        cp.count = arg % 70;
        cp.entries[0].eax_in = (op & 0x40) ? 0x8000001F : 1;
        cp.entries[0].eax = arg;
        h.write(page, serialize_cpuid_page(cp));
      }
      break;
    }
  }
}

template <class T>
std::vector<uint8_t> wire(const T& v) {
  std::vector<uint8_t> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

// A well-formed buffer for `id` from a few input bytes (addresses from the pool, small ASIDs,
// the fixture's policy); the caller uses it for 3 of 4 steps, raw random bytes otherwise.
std::vector<uint8_t> typed_buffer(CommandId id, Reader& r, const std::vector<Hpa>& contexts) {
  const uint8_t sel = r.u8();
  const Hpa b = pool_page(r.u8()), c = pool_page(r.u8());
  const Hpa a = (sel & 3) != 0 && !contexts.empty() ? contexts[sel % contexts.size()]
                                                    : pool_page(sel >> 2);
  const uint8_t x = r.u8();
  switch (id) {
    case CommandId::kSnpInitEx: {
      CmdInitEx cmd;
      cmd.init_rmp = true;
      cmd.rapl_dis = x & 1;
      return serialize(cmd);
    }
    case CommandId::kSnpShutdownEx:
      return serialize(CmdShutdownEx{});
    case CommandId::kSnpActivate:
      return serialize(CmdActivate{a, Asid{(x & 0x80) ? x : 1u + x % 3}});
    case CommandId::kSnpGuestStatus:
      return serialize(CmdGctxAddrs{a, b, Hpa{0}}, 2);
    case CommandId::kSnpGuestRequest:
      return serialize(CmdGctxAddrs{a, b, c}, 3);
    case CommandId::kSnpLaunchStart: {
      CmdLaunchStart cmd;
      cmd.gctx_paddr = a;
      cmd.policy = (x & 0x80) ? test::kPolicy ^ (uint64_t{1} << (x % 26)) : test::kPolicy;
      cmd.imi_en = x & 1;
      return serialize(cmd);
    }
    case CommandId::kSnpLaunchUpdate: {
      CmdLaunchUpdate cmd;
      cmd.gctx_paddr = a;
      cmd.address = b;
      cmd.page_type = static_cast<PageType>(1 + x % 6);
      cmd.vmpl1_perms = (x >> 3) & 0xF;
      cmd.imi_page = (x & 0xC0) == 0xC0;
      return serialize(cmd);
    }
    case CommandId::kSnpLaunchFinish: {
      CmdLaunchFinish cmd;
      cmd.gctx_paddr = a;
      cmd.host_data[0] = x;
      cmd.vcek_disabled = (x & 0x40) != 0;
      return serialize(cmd);
    }
    case CommandId::kSnpPageReclaim:
    case CommandId::kSnpPageUnsmash:
      return serialize((x & 1) ? CmdPageAddr{Hpa{kPoolBase}, true} : CmdPageAddr{a, false});
    // Legacy commands name guests by handle (1..4: the first launches of the input).
    case CommandId::kInit:
      return wire(SevDataInit{x & 1u, 0, kTmr,
                              (x & 2) ? uint32_t{kSnpTmrSize} : uint32_t{kSevTmrSize}});
    case CommandId::kLaunchStart: {
      SevDataLaunchStart ls;
      ls.policy = (x & 1) ? sev_policy::kEs | sev_policy::kNoDbg : sev_policy::kNoKs;
      if ((x & 0x80) != 0) ls.policy |= 1u << (x % 32);
      return wire(ls);
    }
    case CommandId::kActivate:
      return wire(SevDataActivate{1u + sel % 4, (x & 0x80) ? x : 1u + x % 3});
    case CommandId::kLaunchUpdateData:
    case CommandId::kLaunchUpdateVmsa: {
      const bool vmsa = id == CommandId::kLaunchUpdateVmsa;
      return wire(SevDataLaunchUpdate{1u + sel % 4, 0, vmsa ? b.value : b.value + (x & 0x30),
                                      vmsa ? uint32_t{kPageSize} : 16u * (1 + x % 8)});
    }
    case CommandId::kLaunchMeasure:
      return wire(SevDataLaunchMeasure{1u + sel % 4, 0, c.value, (x & 1) ? 48u : 0u});
    case CommandId::kDecommission:
    case CommandId::kDeactivate:
    case CommandId::kLaunchFinish:
      return wire(SevDataHandle{1u + sel % 4});
    case CommandId::kGuestStatus:
      return wire(SevDataGuestStatus{1u + sel % 4, 0, 0, 0});
    default:
      return serialize(CmdAddr{a});
  }
}

void command_step(test::Host& h, Reader& r, std::vector<Hpa>& contexts) {
  const uint8_t pick = r.u8();
  CommandId id = kIds[pick % std::size(kIds)];
  // SHUTDOWN ends every guest; keep it rare so that launches get far.
  if ((id == CommandId::kSnpShutdown || id == CommandId::kSnpShutdownEx ||
       id == CommandId::kShutdown) &&
      (pick & 0x30) != 0) {
    id = CommandId::kSnpDfFlush;
  }
  std::vector<uint8_t> buf;
  if (pick >= 64) {
    buf = typed_buffer(id, r, contexts);
  } else {
    buf.resize(64);
    for (uint8_t& b : buf) b = r.u8();
  }
  const Snapshot before = snapshot(h);
  const Status st = h.run(id, buf);
  if (st == Status::kSuccess) {
    // Remember context pages so that later typed buffers name live guests.
    uint64_t gctx = 0;
    std::memcpy(&gctx, buf.data(), std::min<size_t>(buf.size(), 8));  // legacy buffers: 4 bytes
    if (id == CommandId::kSnpGctxCreate && contexts.size() < 8) contexts.push_back(Hpa{gctx});
    if (id == CommandId::kSnpDecommission) std::erase(contexts, Hpa{gctx});
    return;
  }
  const Snapshot after = snapshot(h);
  check(after.fingerprint == before.fingerprint, "a failed command changed firmware state");
  check(after.entries == before.entries, "a failed command changed an RMP entry");
  check(after.key_generations == before.key_generations, "a failed command changed a key slot");
  const bool cpuid_exclusion = id == CommandId::kSnpLaunchUpdate && st == Status::kInvalidParam;
  if (!cpuid_exclusion) {
    check(after.memory == before.memory, "a failed command changed a pool page");
  }
  check(!h.fw->last_error().empty(), "a failure without a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  std::vector<Hpa> contexts;
  // Most inputs start from an initialised platform with one guest ready for LAUNCH_UPDATE
  // (context page = last pool page, ASID 1); bit 7 of the prelude selects memory encryption.
  const uint8_t prelude = r.u8();
  test::Host h = (prelude & 0x80) != 0 ? test::Host::make_encrypted() : test::Host::make();
  // Bit 6: the legacy platform is initialised (with SEV-ES) instead of SNP.
  if ((prelude & 0x40) != 0) {
    h.run(CommandId::kInit, wire(SevDataInit{kSevInitFlagsSevEs, 0, kTmr, uint32_t{kSevTmrSize}}));
  } else if ((prelude & 7) != 0) {
    h.run(CommandId::kSnpInit);
  }
  if ((prelude & 3) != 0 && h.start_guest(pool_page(kPoolPages - 1), Asid{1}) == Status::kSuccess) {
    contexts.push_back(pool_page(kPoolPages - 1));
  }
  for (int steps = 0; !r.done() && steps < 64; ++steps) {
    if (r.u8() % 3 == 0) {
      hypervisor_step(h, r);
    } else {
      command_step(h, r, contexts);
    }
    const std::vector<std::string> broken = h.fw->check_invariants();
    if (!broken.empty()) std::fprintf(stderr, "%s\n", broken.front().c_str());
    check(broken.empty(), "Firmware::check_invariants");
  }
  return 0;
}
