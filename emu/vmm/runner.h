// emu/vmm/runner.h: the userspace VMM's main loop for `snpemu run GUEST.elf`: build the host,
// create the VM through the KVM facade (emu/kvm), load the ELF and the 64-bit boot pages into
// guest RAM, start every vCPU in 64-bit mode at the entry, and run them -- the vCPU with the
// lowest cycle count first, one quantum at a time (deterministic) -- handling what KVM_RUN
// returns: port I/O (isa-debug-exit 0xF4 ends the run with status (value << 1) | 1, as QEMU
// does), HLT (the vCPU stops; the run ends when every vCPU has), shutdown, SEV termination
// requests, KVM_HC_MAP_GPA_RANGE and memory faults (conversions), and internal errors.
//
// SEV-ES guests (type kSevEs) are launched through the AMD-SP's legacy SEV launch
// (emu/vmm/sev_boot.h): their image, boot pages and VMSAs are encrypted and measured by the
// firmware, and the result carries the LAUNCH_MEASURE blob.
//
// SNP guests (type kSnp) are launched through the AMD-SP (emu/vmm/snp_boot.h): the launch plan
// of the image (emu/vmm/launch_plan.h) with its fixed layout (secrets page at 0x80000, CPUID page
// at 0x81000, image at or above 0x82000) is measured and encrypted by the firmware, every vCPU
// starts from its launched VMSA, and the result carries the launch measurement.
//
// Guest layout: as bare metal (emu/exec/boot_layout.h): identity-mapped 4 GiB with 2 MiB pages
// at 0x1000, GDT at 0x7000, vCPU i's stack top at 0x80000 - i * 0x4000 with RDI = i; the image
// must lie above 0x80000 and inside guest memory.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <expected>
#include <ostream>
#include <span>
#include <string>

#include "emu/hv/hv.h"

namespace snpemu::vmm {

struct GuestRunOptions {
  hv::VmType type = hv::VmType::kDefault;
  uint64_t mem_bytes = uint64_t{256} << 20;
  uint32_t vcpus = 1;
  /// Stop after this many modelled cycles on any vCPU (0 = no limit).
  uint64_t max_cycles = 0;
  /// Cycles a vCPU runs before the scheduler picks again.
  uint64_t quantum = 100'000;
  uint64_t seed = 0x534E'5045'4D55'0001;
  /// SNP: the guest policy given to SNP_LAUNCH_START.
  uint64_t policy = 0x30000;
  /// SEV-ES: the legacy guest policy given to LAUNCH_START (NODBG | NOKS | ES).
  uint32_t sev_policy = 0x7;
  /// SEV-ES / SNP: the GHCB protocol versions the VMM advertises (SEV_INFO min..max).
  uint16_t ghcb_min = 1, ghcb_max = 2;
  /// Page State Change handling (hv::ExitOptions::psc_handling): kVmm = KVM's exits to this VMM,
  /// kInKernel = the hypervisor converts itself. CLI names: hv::psc_handling_name().
  hv::PscHandling psc_handling = hv::PscHandling::kVmm;
  /// RMP update timing of conversions to private, in the kernel and in this VMM alike: kLazy =
  /// KVM (at the first private fault), kEager = at conversion. CLI: hv::rmp_update_timing_name().
  hv::RmpUpdateTiming rmp_update_timing = hv::RmpUpdateTiming::kLazy;
  /// How the VMM starts vCPUs 1..N-1: kRunning = all vCPUs run from the start (KVM_SET_MP_STATE
  /// RUNNABLE, each at the entry with RDI = its index); kWaiting = as KVM creates them, in MP
  /// state UNINITIALIZED: an AP runs only when the guest starts it (SNP AP creation).
  enum class ApStart : uint8_t { kRunning, kWaiting } ap_start = ApStart::kRunning;
};

struct GuestRunResult {
  enum class End : uint8_t {
    kExitPort,    ///< the guest wrote port 0xF4
    kHalt,        ///< every vCPU halted
    kCycleLimit,  ///< max_cycles reached
    kTerminated,  ///< an SEV-ES/SNP guest's GHCB termination request (reason below)
  };
  End end = End::kHalt;
  int exit_status = 0;    ///< (value << 1) | 1 for kExitPort; kTerminated: 0 for reason set 0
                          ///< code 0, else 1; else 0
  uint8_t reason_set = 0;   ///< kTerminated: GHCB termination reason set (bits 15:12)
  uint8_t reason_code = 0;  ///< kTerminated: reason code (bits 23:16)
  uint64_t cycles = 0;    ///< largest vCPU cycle count
  uint64_t exits = 0;     ///< #VMEXITs handled by the hypervisor, all vCPUs
  uint64_t vmm_exits = 0; ///< KVM_RUN returns to the VMM, all vCPUs
  uint64_t instructions = 0;
  /// SNP: the launch digest the AMD-SP computed (what the guest's attestation report carries).
  std::optional<std::array<uint8_t, 48>> measurement;
  /// SEV-ES: the LAUNCH_MEASURE blob (HMAC-SHA-256 measurement, then the 16-byte MNONCE).
  std::optional<std::array<uint8_t, 48>> sev_measurement;
};

/// Runs `elf` as a guest. Console bytes (port 0xE9, COM1) go to `console` as the VMM collects
/// them. Errors (malformed image, guest shutdown / triple fault, internal errors, a failed
/// conversion) are one line naming the vCPU and the cause.
std::expected<GuestRunResult, std::string> run_guest(std::span<const uint8_t> elf,
                                                     const GuestRunOptions& options,
                                                     std::ostream& console);

}  // namespace snpemu::vmm
