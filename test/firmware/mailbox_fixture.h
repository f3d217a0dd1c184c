// test/firmware/mailbox_fixture.h: a small host (64 MiB RAM, contiguous RMP) with a Firmware,
// optionally programming the memory controller's key slots (make_encrypted), plus the
// hypervisor-side steps KVM performs around mailbox commands (RMPUPDATE to firmware or pre-guest
// state, writing a command buffer). Used by the mailbox tests and the mailbox fuzzer;
// no gtest dependency (setup failures abort: they are bugs of the fixture, not of the model).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "emu/mem/memory.h"
#include "emu/memcrypt/memcrypt.h"
#include "firmware/firmware.h"
#include "rmp/rmp.h"

namespace snpemu::fw::test {

inline constexpr uint64_t kRamSize = uint64_t{64} << 20;
inline constexpr uint64_t kRmpBase = kRamSize - (uint64_t{1} << 20);  // RMP in the last MiB
inline constexpr Hpa kCmdBuf{0x1000};  // where the fixture writes command buffers
/// A policy every fixture platform accepts: SMT allowed (16), reserved bit 17 set.
inline constexpr uint64_t kPolicy = 0x30000;

/// The platform seed the fixture uses ("snpemu-test-seed-0001").
std::vector<uint8_t> test_seed();
/// The fixture's FirmwareConfig (Milan-like facts, permissive CPUID rules for leaf 0 and 1).
FirmwareConfig test_config();

struct Host {
  std::unique_ptr<Memory> mem;
  std::optional<rmp::Rmp> rmp;
  std::unique_ptr<memcrypt::KeyTable> keys;  // null unless make_encrypted
  std::optional<Firmware> fw;

  /// A host whose firmware does not model memory encryption (memory stays plaintext).
  static Host make(FirmwareConfig config = test_config());
  /// A host with a KeyTable (slots for ASIDs 0..max_key_asid) that the firmware programs.
  static Host make_encrypted(FirmwareConfig config = test_config(), uint32_t max_key_asid = 1006);

  /// Writes `buf` at kCmdBuf and issues `id`.
  Status run(CommandId id, const std::vector<uint8_t>& buf = {});
  /// Hypervisor RMPUPDATE (as KVM): firmware page (assigned, ASID 0, immutable).
  rmp::RmpRc make_firmware(Hpa page);
  /// Hypervisor RMPUPDATE: private page of `asid` at `gpa`, 4K, immutable (pre-guest).
  rmp::RmpRc make_pre_guest(Hpa page, Asid asid, Gpa gpa, bool immutable = true);
  /// Hypervisor RMPUPDATE: back to shared (all zero).
  rmp::RmpRc make_shared(Hpa page);
  // Command shorthands (typed buffers through the codecs' serialize).
  Status gctx_create(Hpa gctx);  // make_firmware + SNP_GCTX_CREATE
  Status launch_start(Hpa gctx, uint64_t policy = kPolicy);
  Status activate(Hpa gctx, Asid asid);
  Status launch_update(Hpa gctx, Hpa page, PageType type, uint8_t vmpl1_perms = 0);
  Status launch_finish(Hpa gctx, std::array<uint8_t, 32> host_data = {});
  Status reclaim(Hpa page);
  Status decommission(Hpa gctx);
  /// gctx_create, launch_start, activate: a guest ready for LAUNCH_UPDATE.
  Status start_guest(Hpa gctx, Asid asid, uint64_t policy = kPolicy);

  rmp::RmpEntry entry(Hpa page) const { return rmp->entry(pfn_of(page)); }
  void write(Hpa pa, std::span<const uint8_t> bytes);
  std::vector<uint8_t> read(Hpa pa, size_t size) const;

 private:
  static Host make_with(FirmwareConfig config, bool encrypted, uint32_t max_key_asid);
};

}  // namespace snpemu::fw::test
