// cpu/msr.cc: the MSR file. Unknown MSRs and reserved bits raise #GP(0) (APM vol 3, RDMSR and
// WRMSR). MSR numbers: APM vol 2, Appendix A. The SVM and SEV MSRs (VM_HSAVE_PA, SEV_STATUS,
// SYSCFG, RMP_BASE/END ...) join this switch in later issues.
#include "cpu/cpu.h"
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

enum : uint32_t {
  kMsrTsc = 0x10,
  kMsrApicBase = 0x1B,
  kMsrPat = 0x277,
  kMsrEfer = 0xC0000080,
  kMsrStar = 0xC0000081,
  kMsrLstar = 0xC0000082,
  kMsrCstar = 0xC0000083,
  kMsrSfmask = 0xC0000084,
  kMsrFsBase = 0xC0000100,
  kMsrGsBase = 0xC0000101,
  kMsrKernelGsBase = 0xC0000102,
  kMsrTscAux = 0xC0000103,
  kMsrSysenterCs = 0x174,
  kMsrSysenterEsp = 0x175,
  kMsrSysenterEip = 0x176,
  kMsrVmCr = 0xC0010114,      // APM vol 2, 15.30.1
  kMsrVmHsavePa = 0xC0010117, // APM vol 2, 15.30.4
  kMsrGhcb = 0xC0010130,      // SEV-ES GHCB MSR. PLATFORM-FACTS 0 / GHCB spec 2.3.1
  kMsrSevStatus = 0xC0010131, // SEV_STATUS. PLATFORM-FACTS 0
};

constexpr uint64_t kVmCrSvmDis = 1u << 4;  // VM_CR.SVMDIS: EFER.SVME cannot be set. APM 15.30.1

// EFER bits software may write: SCE LME NXE SVME LMSLE FFXSR TCE (LMA is read-only, writes
// ignored). APM vol 2, 3.1.7.
constexpr uint64_t kEferWritable = 0x1 | 0x100 | 0x800 | 0x1000 | 0x2000 | 0x4000 | 0x8000;
// APIC_BASE: BSP (8), x2APIC enable (10), enable (11), base 51:12. APM vol 2, 16.3.1.
constexpr uint64_t kApicBaseWritable = 0x000FFFFFFFFFFD00;

// PAT entries must hold a defined memory type: UC WC WT WP WB UC- (0 1 4 5 6 7). APM vol 2, 7.8.
bool valid_pat(uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    const uint64_t t = (v >> (8 * i)) & 0xFF;
    if (t == 2 || t == 3 || t > 7) return false;
  }
  return true;
}

}  // namespace

bool Core::read_msr(uint32_t index, uint64_t& value) const {
  const ArchState& s = state_;
  switch (index) {
    case kMsrTsc: value = tsc(); return true;
    case kMsrApicBase: value = s.msr.apic_base; return true;
    case kMsrPat: value = s.msr.pat; return true;
    case kMsrEfer: value = s.efer; return true;
    case kMsrStar: value = s.msr.star; return true;
    case kMsrLstar: value = s.msr.lstar; return true;
    case kMsrCstar: value = s.msr.cstar; return true;
    case kMsrSfmask: value = s.msr.sfmask; return true;
    case kMsrFsBase: value = s.seg[kFs].base; return true;
    case kMsrGsBase: value = s.seg[kGs].base; return true;
    case kMsrKernelGsBase: value = s.msr.kernel_gs_base; return true;
    case kMsrTscAux: value = s.msr.tsc_aux; return true;
    case kMsrSysenterCs: value = s.msr.sysenter_cs; return true;
    case kMsrSysenterEsp: value = s.msr.sysenter_esp; return true;
    case kMsrSysenterEip: value = s.msr.sysenter_eip; return true;
    case kMsrVmCr: value = s.msr.vm_cr; return true;
    case kMsrVmHsavePa: value = s.msr.vm_hsave_pa; return true;
    case kMsrSevStatus:
      // Guest view: SEV (bit 0), SEV-ES (bit 1), and the VMSA's SEV_FEATURES shifted by 2.
      // The host reads 0. PLATFORM-FACTS 0 [L].
      value = !guest_active_ || !guest_.sev ? 0
              : guest_.sev_es              ? svm::sev_status_from_features(guest_.sev_features)
                                           : 1;
      return true;
    case kMsrGhcb:
      // Exists only in an SEV-ES guest: its value travels in VMCB ghcb_gpa. UNCONFIRMED: the
      // host-mode behaviour (#GP here).
      if (!guest_active_ || !guest_.sev_es) return false;
      value = guest_.ghcb_gpa;
      return true;
    default: return false;
  }
}

bool Core::write_msr(uint32_t index, uint64_t value) {
  ArchState& s = state_;
  switch (index) {
    case kMsrTsc: s.msr.tsc_offset = value - cycles_; return true;
    case kMsrApicBase:
      if (value & ~kApicBaseWritable) return false;
      s.msr.apic_base = value;
      return true;
    case kMsrPat:
      if (!valid_pat(value)) return false;
      s.msr.pat = value;
      return true;
    case kMsrEfer: {
      if (value & ~(kEferWritable | ctl::kEferLma)) return false;
      if ((value & ctl::kEferSvme) && !(s.efer & ctl::kEferSvme) && (s.msr.vm_cr & kVmCrSvmDis)) {
        return false;  // APM vol 2, 15.30.1
      }
      // LME may not change while paging is enabled. APM vol 2, 14.6.
      if ((s.cr0 & ctl::kCr0Pg) && ((value ^ s.efer) & ctl::kEferLme)) return false;
      const uint64_t old = s.efer;
      s.efer = (value & kEferWritable) | (s.efer & ctl::kEferLma);
      paging_changed(s.cr0, s.cr4, old);
      return true;
    }
    case kMsrStar: s.msr.star = value; return true;
    case kMsrLstar: case kMsrCstar: case kMsrFsBase: case kMsrGsBase: case kMsrKernelGsBase:
      if (!is_canonical(value)) return false;
      if (index == kMsrLstar) s.msr.lstar = value;
      if (index == kMsrCstar) s.msr.cstar = value;
      if (index == kMsrFsBase) s.seg[kFs].base = value;
      if (index == kMsrGsBase) s.seg[kGs].base = value;
      if (index == kMsrKernelGsBase) s.msr.kernel_gs_base = value;
      return true;
    case kMsrSfmask:
      if (value >> 32) return false;
      s.msr.sfmask = value;
      return true;
    case kMsrTscAux:
      if (value >> 32) return false;
      s.msr.tsc_aux = value;
      return true;
    case kMsrSysenterCs: s.msr.sysenter_cs = value & 0xFFFF; return true;
    case kMsrSysenterEsp: s.msr.sysenter_esp = value; return true;
    case kMsrSysenterEip: s.msr.sysenter_eip = value; return true;
    case kMsrVmCr:
      // Only SVMDIS is modelled as writable, and only while LOCK (bit 3) is clear.
      // UNCONFIRMED: the other VM_CR bits (DPD, R_INIT, DIS_A20M) are ignored here.
      if (s.msr.vm_cr & (1u << 3)) return false;
      s.msr.vm_cr = (s.msr.vm_cr & ~kVmCrSvmDis) | (value & kVmCrSvmDis);
      return true;
    case kMsrVmHsavePa:
      // Must be 4 KiB aligned and inside the physical address width. APM vol 2, 15.30.4.
      if ((value & 0xFFF) || (value >> config_.paging.maxphyaddr)) return false;
      s.msr.vm_hsave_pa = value;
      return true;
    case kMsrGhcb:
      if (!guest_active_ || !guest_.sev_es) return false;
      guest_.ghcb_gpa = value;
      return true;
    case kMsrSevStatus:
      return false;  // read-only
    default:
      return false;
  }
}

ArchState long_mode_state(uint64_t rip, uint64_t rsp) {
  ArchState s;
  s.rip = rip;
  s.gpr[kRsp] = rsp;
  s.cr0 = ctl::kCr0Pe | ctl::kCr0Et | ctl::kCr0Ne;  // paging bits are the caller's (mmu/ later)
  s.cr4 = ctl::kCr4Pae;
  s.efer = ctl::kEferLme | ctl::kEferLma | ctl::kEferNxe | ctl::kEferSce;
  // Flat 64-bit code segment (selector 0x08) and data segments (0x10), CPL 0.
  s.seg[kCs] = Segment{0x08, 0xA9B, 0xFFFFFFFF, 0};  // P DPL0 S code RA, L G
  for (unsigned r : {kEs, kSs, kDs, kFs, kGs}) s.seg[r] = Segment{0x10, 0xC93, 0xFFFFFFFF, 0};
  s.tr = Segment{0, 0x8B, 0x67, 0};
  s.cpl = 0;
  return s;
}

}  // namespace snpemu::cpu
