// emu/vmm/launch_plan.h: what the VMM model launches for an SNP guest ELF, the one definition
// shared by the launch flow and `snpemu measure`.
//
// The plan is the ordered list of SNP_LAUNCH_UPDATE ranges; the launch digest is the firmware's
// PAGE_INFO chain (firmware/ LaunchDigest) over them in this order (PLATFORM-FACTS 8.4, 10):
//
//   1. NORMAL  the ELF's PT_LOAD segments: every 4 KiB page any segment touches, ascending GPA,
//              holding the file bytes zero-padded to p_memsz and to the page (segments may share
//              a page; they may not overlap). Contiguous pages form one range.
//   2. NORMAL  the boot page tables at 0x1000-0x6FFF (emu/exec/boot_layout.h: [0, 4 GiB)
//              identity-mapped with 2 MiB pages), every entry carrying the C-bit, since an SNP
//              guest's table walks and data accesses must be private.
//   3. NORMAL  the GDT page at 0x7000 (null, 0x08 64-bit code, 0x10 data).
//   4. ZERO    the stack, 0x8000-0x7FFFF.
//   5. SECRETS kSecretsGpa (0x80000).
//   6. CPUID   kCpuidGpa (0x81000); the page holds the VMM's CPUID table (not measured: CPUID
//              pages enter PAGE_INFO with zero CONTENTS).
//   7. VMSA    one per vCPU, BSP first, at fw::kVmsaGpa (the GPA KVM measures every VMSA at).
//
// The order follows sev-snp-measure / QEMU: the image, then metadata pages (zero, secrets,
// CPUID), then the VMSAs as KVM measures them at LAUNCH_FINISH (PLATFORM-FACTS 8.3, 8.10
// [3P virtee/sev-snp-measure guest.py]). ELF images must therefore lie at or above kImageBase
// (test guests link at 1 MiB) and below 4 GiB (the identity map); anything else is an error value.
//
// Initial vCPU state (initial_vmsa): 64-bit mode as the bare-metal loader starts a core
// (emu/exec/bare_metal.cc), plus what KVM and QEMU put in every SNP VMSA:
//   rip = e_entry, rsp = kStackTop - index * kVcpuStackSize, rdi = vCPU index (0 = BSP),
//   rdx = CPUID Fn0000_0001_EAX (QEMU's reset RDX, [3P sev-snp-measure vmsa.py]),
//   cs 0x08 (L, P, DPL0, execute/read), ds/es/fs/gs/ss 0x10, gdtr = {0x7000, 23},
//   tr = busy 64-bit TSS attributes, limit 0x67; ldtr/idtr null,
//   cr0 = PE|ET|NE|WP|PG, cr3 = 0x1000|C-bit, cr4 = PAE|MCE (KVM sets CR4.MCE in the hardware
//   CR4, [3P sev-snp-measure cr4 = 0x40]), efer = LME|LMA|NXE|SVME (KVM always sets SVME in
//   the guest's hardware EFER, [3P sev-snp-measure efer = 0x1000]), rflags = 0x2,
//   dr6 = 0xFFFF0FF0, dr7 = 0x400, g_pat = 0x0007040600070406, xcr0 = 1, mxcsr = 0x1F80,
//   x87_fcw = 0x37F (KVM_SEV_INIT2 VMs sync the reset FPU state, [L] KVM sev_es_sync_vmsa;
//   [3P virtee/sev measurement/vmsa.rs for QEMU; older sev-snp-measure vmsa.py leaves both 0]),
//   vmpl 0, cpl 0, sev_features = LaunchOptions::sev_features.
// UNCONFIRMED: KVM copies the host's CR4.MCE into the guest's hardware CR4 (set on every
// EPYC host we know of, assumed here); ldtr/idtr/tr follow the bare-metal loader, not KVM's
// reset values (ldtr attrib 0x82, limits 0xFFFF), since this is a 64-bit start, not a reset.
// APs: the VMM creates every vCPU's VMSA at launch (as QEMU does; PLATFORM-FACTS 9.1 "first
// SIPI starts the VMSA the VMM set up"), each entering at e_entry with its own stack and its
// index in RDI. UNCONFIRMED: QEMU has no 64-bit direct start for SNP (it launches OVMF in real
// mode, or takes VMSAs from an IGVM file), so this 64-bit state is our VMM's own choice; a
// launch of the same image under QEMU + OVMF has a different digest by construction.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "base/types.h"
#include "cpu/svm/svm.h"
#include "firmware/firmware.h"

namespace snpemu::vmm {

/// Fixed guest-physical addresses of the VMM's launch pages (this VMM's choice; documented in
/// the README). The stack and page tables are those of emu/exec/boot_layout.h.
inline constexpr uint64_t kSecretsGpa = 0x80000;
inline constexpr uint64_t kCpuidGpa = 0x81000;
/// Lowest address above the VMM's pages; a segment below it (except in page 0) overlaps one.
inline constexpr uint64_t kImageBase = 0x82000;
/// Stack of each vCPU: vCPU i starts with RSP = kStackTop - i * kVcpuStackSize.
inline constexpr uint64_t kVcpuStackSize = 0x4000;
/// Most vCPUs whose stacks fit the boot stack region (0x8000-0x7FFFF): 30. A model limit.
inline constexpr uint32_t kMaxVcpus = 30;

/// The default policy: SMT allowed (bit 16) and the must-be-one bit 17, ABI 0.0; the value
/// sev-snp-measure and QEMU use by default (0x30000). PLATFORM-FACTS 8.5.
inline constexpr uint64_t kDefaultPolicy = 0x30000;
/// C-bit of the modelled CPU: CPUID 0x8000001F EBX[5:0] = 51 (cpu/cpuid.cc zen4 profile).
inline constexpr uint8_t kDefaultCBit = 51;
/// CPUID Fn0000_0001_EAX of the modelled CPU (cpu/cpuid.cc zen4 profile: family 19h model 11h
/// stepping 1), what QEMU puts in RDX at reset.
inline constexpr uint32_t kDefaultVcpuSig = 0x00A10F11;

/// What the user chooses for a launch.
struct LaunchOptions {
  uint32_t vcpus = 1;                                     ///< 1..kMaxVcpus
  uint64_t policy = kDefaultPolicy;                       ///< for LAUNCH_START; not in the digest
  uint64_t sev_features = svm::sev_features::kSnpActive;  ///< VMSA SEV_FEATURES (bit 0 required)
  uint8_t c_bit = kDefaultCBit;                           ///< 32..51
  uint32_t vcpu_sig = kDefaultVcpuSig;
};

/// One SNP_LAUNCH_UPDATE over `pages` consecutive 4 KiB pages from `gpa` (for VMSA: one page at
/// fw::kVmsaGpa). `contents` holds pages * 4096 bytes for NORMAL, VMSA and CPUID and is empty
/// for ZERO and SECRETS (the firmware writes those pages).
struct LaunchRange {
  fw::PageType type = fw::PageType::kNormal;
  Gpa gpa{};
  uint64_t pages = 1;
  std::vector<uint8_t> contents;
  std::string what;  ///< e.g. "ELF segment pages", "stack", "VMSA of vCPU 1" (for messages)
};

/// The whole launch: policy for LAUNCH_START and the LAUNCH_UPDATE ranges in order.
struct LaunchPlan {
  uint64_t policy = kDefaultPolicy;
  uint64_t entry = 0;
  uint32_t vcpus = 1;
  std::vector<LaunchRange> ranges;
};

/// Why a plan could not be made.
enum class LaunchPlanErrorKind : uint8_t {
  kBadElf,      ///< the ELF does not parse, or its entry is not in an identity-mapped code segment
  kBadOption,   ///< vcpus, policy, SEV features or C-bit out of range
  kOverlap,     ///< two ranges share a page (overlapping segments, or a segment on a VMM page)
  kOutOfRange,  ///< a segment at or above 4 GiB, outside the boot identity map
  kBadPage,     ///< a range the firmware would refuse (unaligned, past 52 bits, wrong size)
};

/// The error value: kind plus one precise line, e.g. "ELF segment pages [0x7000, 0x9000)
/// overlap the GDT [0x7000, 0x8000)".
struct LaunchPlanError {
  LaunchPlanErrorKind kind = LaunchPlanErrorKind::kBadElf;
  std::string message;
};

/// Builds the plan for an ELF64 image (see the table at the top of this file).
std::expected<LaunchPlan, LaunchPlanError> make_launch_plan(std::span<const uint8_t> elf,
                                                            const LaunchOptions& options);

/// The VMSA of vCPU `index` (0 = BSP) entering at `entry` (see the table at the top).
svm::SevEsSaveArea initial_vmsa(uint64_t entry, uint32_t index, const LaunchOptions& options);
/// The 4 KiB VMSA page: the save area then zeros.
std::vector<uint8_t> vmsa_page(const svm::SevEsSaveArea& vmsa);

/// Checks the options alone (kBadOption naming the field).
std::expected<void, LaunchPlanError> check_options(const LaunchOptions& options);

/// Checks that no two non-VMSA ranges share a page (kOverlap naming both).
std::expected<void, LaunchPlanError> check_no_overlap(std::span<const LaunchRange> ranges);

/// The launch digest of `ranges` in order, from 48 zero bytes, with the firmware's own PAGE_INFO
/// chain (fw::LaunchDigest). kBadPage if the firmware would refuse a page.
std::expected<fw::Digest384, LaunchPlanError> measure(std::span<const LaunchRange> ranges);

}  // namespace snpemu::vmm
