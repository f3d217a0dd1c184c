// cpu/svm/vmrun_check.cc: the VMRUN "Canonicalization and Consistency Checks".
// APM vol 2 15.5.1 (list of conditions that make VMRUN exit with VMEXIT_INVALID); Linux
// kvm/svm/nested.c nested_vmcb_check_controls and __nested_vmcb_check_save implement the same
// list for a nested guest. Each check below cites which of the two it follows.
#include <array>

#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

constexpr uint64_t kHigh32 = 0xFFFF'FFFF'0000'0000ull;

constexpr uint64_t bits_at_or_above(unsigned n) { return n >= 64 ? 0 : ~uint64_t{0} << n; }

// A map at `base` of `size` bytes must end below 2^max_phys (APM 15.5.1: "The MSR or IOIO
// intercept tables extend to a physical address that is greater than or equal to the maximum
// supported physical address"; nested.c nested_svm_check_bitmap_pa).
constexpr bool map_fits(uint64_t base, uint64_t size, unsigned max_phys) {
  const uint64_t last = base + size - 1;
  if (last < base) return false;  // wrapped
  return (last & bits_at_or_above(max_phys)) == 0;
}

VmrunCheck check_save(const VmrunGuestState& g, const SvmCaps& caps) {
  // APM 15.5.1 / __nested_vmcb_check_save, in the APM's order.
  if ((g.efer & efer::kSvme) == 0) return VmrunCheck::kEferSvmeClear;
  if ((g.cr0 & cr0::kCd) == 0 && (g.cr0 & cr0::kNw) != 0) return VmrunCheck::kCr0CdClearNwSet;
  if ((g.cr0 & kHigh32) != 0) return VmrunCheck::kCr0HighBits;
  const bool long_mode = (g.efer & efer::kLme) != 0 && (g.cr0 & cr0::kPg) != 0;
  // CR3 MBZ: in long mode bits >= MAXPHYADDR (nested.c: kvm_vcpu_is_legal_cr3 under LME && PG).
  // UNCONFIRMED: legacy/PAE-mode CR3 MBZ bits; like KVM, nothing is checked outside long mode.
  if (long_mode && (g.cr3 & bits_at_or_above(caps.max_phys_addr_bits)) != 0) {
    return VmrunCheck::kCr3Mbz;
  }
  if ((g.cr4 & ~caps.cr4_defined) != 0) return VmrunCheck::kCr4Mbz;     // __kvm_is_valid_cr4
  if ((g.dr6 & kHigh32) != 0) return VmrunCheck::kDr6HighBits;          // kvm_dr6_valid
  if ((g.dr7 & kHigh32) != 0) return VmrunCheck::kDr7HighBits;          // kvm_dr7_valid
  if ((g.efer & ~caps.efer_defined) != 0) return VmrunCheck::kEferMbz;  // kvm_valid_efer
  if (!caps.long_mode && (g.efer & (efer::kLme | efer::kLma)) != 0) {
    return VmrunCheck::kLongModeUnsupported;
  }
  if (long_mode) {
    if ((g.cr4 & cr4::kPae) == 0) return VmrunCheck::kLongModeNoPae;
    if ((g.cr0 & cr0::kPe) == 0) return VmrunCheck::kLongModeNoPe;
    // APM 15.5.1: EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D all non-zero (nested.c, 2026 fix).
    if ((g.cs_attrib & seg_attrib::kL) != 0 && (g.cs_attrib & seg_attrib::kDb) != 0) {
      return VmrunCheck::kLongModeCsLAndD;
    }
  }
  return VmrunCheck::kOk;
}

VmrunCheck check_controls(const VmcbControlArea& c, const SvmCaps& caps) {
  // APM 15.5.1 / nested_vmcb_check_controls.
  if (!is_intercept_set(c, Intercept::kVmrun)) return VmrunCheck::kVmrunInterceptClear;
  if (c.asid == 0) return VmrunCheck::kAsidZero;
  // UNCONFIRMED: APM 15.16 says guest ASIDs run 1 .. NASID-1; that VMRUN rejects a larger one
  // (rather than truncating it) is this emulator's choice.
  if (c.asid >= caps.nasid) return VmrunCheck::kAsidTooLarge;
  const bool np = (c.nested_ctl & nested_ctl::kNpEnable) != 0;
  const bool sev = (c.nested_ctl & nested_ctl::kSevEnable) != 0;
  const bool sev_es = (c.nested_ctl & nested_ctl::kSevEsEnable) != 0;
  // nested.c: NP_ENABLE without nested-paging support fails (APM: enabling an unsupported
  // feature). The SEV checks are the same rule applied to CPUID 0x8000_001F.
  if (np && !caps.nested_paging) return VmrunCheck::kNpUnsupported;
  if (sev && !caps.sev) return VmrunCheck::kSevUnsupported;
  if (sev_es && !caps.sev_es) return VmrunCheck::kSevEsUnsupported;
  // UNCONFIRMED (APM 15.34, from memory): SEV requires nested paging, SEV-ES requires SEV.
  if (sev && !np) return VmrunCheck::kSevWithoutNp;
  if (sev_es && !sev) return VmrunCheck::kSevEsWithoutSev;
  // UNCONFIRMED: the SEV ASID ranges of PLATFORM-FACTS 0 (SEV: 1..max_sev_asid; ES/SNP:
  // 1..min_sev_asid-1) are enforced by VMRUN here; on hardware an out-of-range ASID fails
  // because firmware never activated it.
  if (sev && c.asid > caps.max_sev_asid) return VmrunCheck::kSevAsidOutOfRange;
  if (sev_es && c.asid >= caps.min_sev_asid) return VmrunCheck::kSevEsAsidOutOfRange;
  // UNCONFIRMED: the VMSA pointer must be page aligned and inside physical memory.
  if (sev_es && ((c.vmsa_pa & kPageOffsetMask) != 0 ||
                 !map_fits(c.vmsa_pa, kPageSize, caps.max_phys_addr_bits))) {
    return VmrunCheck::kVmsaPaInvalid;
  }
  if (!map_fits(msrpm_base(c).value, kMsrpmSize, caps.max_phys_addr_bits)) {
    return VmrunCheck::kMsrpmBeyondMaxPa;
  }
  if (!map_fits(iopm_base(c).value, kIopmSize, caps.max_phys_addr_bits)) {
    return VmrunCheck::kIopmBeyondMaxPa;
  }
  return VmrunCheck::kOk;
}

constexpr std::array<std::string_view, 36> kNames = {
    "ok",
    "EFER.SVME is zero",
    "CR0.CD is zero and CR0.NW is set",
    "CR0[63:32] not zero",
    "CR3 MBZ bit set",
    "CR4 MBZ bit set",
    "DR6[63:32] not zero",
    "DR7[63:32] not zero",
    "EFER MBZ bit set",
    "EFER.LME/LMA set without long-mode support",
    "EFER.LME and CR0.PG set, CR4.PAE zero",
    "EFER.LME and CR0.PG set, CR0.PE zero",
    "EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D all set",
    "VMRUN intercept bit clear",
    "ASID is zero",
    "ASID not below NASID",
    "NP_ENABLE without nested paging support",
    "SEV_ENABLE without SEV support",
    "SEV_ES_ENABLE without SEV-ES support",
    "SEV_ENABLE without NP_ENABLE",
    "SEV_ES_ENABLE without SEV_ENABLE",
    "SEV guest ASID above the max SEV ASID",
    "SEV-ES guest ASID not below the min SEV ASID",
    "VMSA PA unaligned or beyond the maximum physical address",
    "MSRPM extends beyond the maximum physical address",
    "IOPM extends beyond the maximum physical address",
    "g_pat holds a reserved memory type with NP_ENABLE",
    "EVENTINJ with a reserved TYPE",
    "EVENTINJ exception with a vector that is not an exception",
    "EVENTINJ exception impossible in the guest's mode",
    "SNP VMSA page not assigned in the RMP",
    "SNP VMSA page assigned to another ASID",
    "SNP VMSA page inside a 2 MiB RMP entry",
    "SNP VMSA page not validated",
    "SNP VMSA page without the RMP VMSA bit",
    "SNP VMSA page in use by a running vCPU",
};
static_assert(kNames.size() == static_cast<size_t>(VmrunCheck::kSnpVmsaInUse) + 1);

}  // namespace

bool pat_valid(uint64_t pat) {
  // APM vol 2 7.8.1: PAT memory types 2 and 3 and 8-255 are reserved.
  for (int i = 0; i < 8; ++i) {
    const auto type = static_cast<uint8_t>(pat >> (8 * i));
    if (type == 2 || type == 3 || type > 7) return false;
  }
  return true;
}

VmrunGuestState guest_state_of(const VmcbSaveArea& s) {
  return VmrunGuestState{.efer = s.efer,
                         .cr0 = s.cr0,
                         .cr3 = s.cr3,
                         .cr4 = s.cr4,
                         .dr6 = s.dr6,
                         .dr7 = s.dr7,
                         .g_pat = s.g_pat,
                         .cs_attrib = s.cs.attrib};
}

VmrunGuestState guest_state_of(const SevEsSaveArea& s) {
  return VmrunGuestState{.efer = s.efer,
                         .cr0 = s.cr0,
                         .cr3 = s.cr3,
                         .cr4 = s.cr4,
                         .dr6 = s.dr6,
                         .dr7 = s.dr7,
                         .g_pat = s.g_pat,
                         .cs_attrib = s.cs.attrib};
}

VmrunCheck check_vmrun(const VmcbControlArea& control, const VmrunGuestState& guest,
                       const SvmCaps& caps) {
  if (const VmrunCheck r = check_save(guest, caps); r != VmrunCheck::kOk) return r;
  if (const VmrunCheck r = check_controls(control, caps); r != VmrunCheck::kOk) return r;
  // "Nested Paging and VMRUN/#VMEXIT" (APM vol 2 15.25.4, cited by the 2026 nested.c g_pat
  // patch): with NP enabled an invalid g_pat makes VMRUN fail.
  if ((control.nested_ctl & nested_ctl::kNpEnable) != 0 && !pat_valid(guest.g_pat)) {
    return VmrunCheck::kGPatInvalid;
  }
  // APM 15.5.1 "Illegal event injection (see Section 15.20)". The guest's mode after the
  // switch: UNCONFIRMED that VMRUN derives 64-bit mode from EFER.LME && CR0.PG (LMA) and CS.L.
  const bool guest_64bit = (guest.efer & efer::kLme) != 0 && (guest.cr0 & cr0::kPg) != 0 &&
                           (guest.cs_attrib & seg_attrib::kL) != 0;
  switch (check_event_inj(control.event_inj, guest_64bit)) {
    case EventInjCheck::kOk:
      return VmrunCheck::kOk;
    case EventInjCheck::kReservedType:
      return VmrunCheck::kEventInjReservedType;
    case EventInjCheck::kNotAnException:
      return VmrunCheck::kEventInjNotAnException;
    case EventInjCheck::kImpossibleInMode:
      return VmrunCheck::kEventInjImpossibleInMode;
  }
  return VmrunCheck::kOk;
}

// SEV-SNP: VMRUN of an SNP guest fails with VMEXIT_INVALID unless its VMSA page is a VMSA page
// of this guest in the RMP. PLATFORM-FACTS 4.7 [AMD-eng]: "VMRUN with a VMSA page whose RMP
// entry lacks the VMSA bit (or wrong owner) fails with VMEXIT_INVALID (-1)"; 9.2 [L]: KVM reads
// no RMP before switching an AP's VMSA, "hardware VMRUN enforces the VMSA RMP state". The GPA is
// not checked: KVM's launch VMSAs carry INITIAL_VMSA_GPA 0xFFFF_FFFF_F000 (Linux kvm/svm/sev.c
// snp_launch_update_vmsa), a guest-created VMSA its own GPA.
VmrunCheck check_snp_vmsa(const VmsaRmpState& page, uint32_t guest_asid) {
  // Owner: assigned to the VMCB's ASID [AMD-eng "wrong owner"].
  if (!page.covered || !page.assigned) return VmrunCheck::kSnpVmsaNotAssigned;
  if (page.asid != guest_asid) return VmrunCheck::kSnpVmsaAsidMismatch;
  // UNCONFIRMED: a VMSA is always a 4 KiB RMP page. KVM makes its VMSAs private at PG_LEVEL_4K
  // and Linux guests RMPADJUST theirs with RMP_PG_SIZE_4K (PLATFORM-FACTS 4.6); that VMRUN
  // refuses a VMSA inside a 2 MiB entry is this emulator's choice (rmp/ refuses the VMSA bit on
  // a 2M RMPADJUST for the same reason).
  if (page.page_2m) return VmrunCheck::kSnpVmsaNot4K;
  // UNCONFIRMED: Validated required. Every VMSA a guest can run from has it: LAUNCH_FINISH
  // makes launched VMSAs Guest-Valid, and a guest-created VMSA is validated private memory.
  if (!page.validated) return VmrunCheck::kSnpVmsaNotValidated;
  if (!page.vmsa) return VmrunCheck::kSnpVmsaBitClear;  // [AMD-eng] "lacks the VMSA bit"
  // UNCONFIRMED: VMRUN marks its VMSA in use until #VMEXIT (PLATFORM-FACTS 4.3 [AMD-eng], the
  // cause of RMPUPDATE's FAIL_INUSE); that a second VMRUN of the same VMSA (another core) fails
  // instead of running one vCPU twice is this emulator's choice.
  if (page.in_use) return VmrunCheck::kSnpVmsaInUse;
  return VmrunCheck::kOk;
}

std::string_view vmrun_check_name(VmrunCheck check) {
  const auto i = static_cast<size_t>(check);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown VMRUN check");
}

}  // namespace snpemu::svm
