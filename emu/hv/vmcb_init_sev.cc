// emu/hv/vmcb_init_sev.cc: KVM's VMCB setup for SEV-ES / SNP vCPUs (sev.c sev_init_vmcb,
// sev_es_init_vmcb, sev_es_vcpu_reset) on top of init_vmcb, and the initial VMSA the VMM
// supplies (the 64-bit start state). PLATFORM-FACTS 5.4, 5.5.
#include <cstring>

#include "emu/hv/hv.h"

namespace snpemu::hv {

void init_vmcb_sev_es(svm::Vmcb& vmcb, const VmcbSetup& setup, const SevEsVmcbSetup& sev) {
  using svm::Intercept;
  init_vmcb(vmcb, setup);
  svm::VmcbControlArea& c = vmcb.control;
  // [L] sev_init_vmcb: SEV_ENABLE; no #UD / #GP intercepts (KVM cannot decode guest code).
  c.nested_ctl |= svm::nested_ctl::kSevEnable | svm::nested_ctl::kSevEsEnable;
  svm::set_intercept(c, svm::exception_intercept(6), false);
  svm::set_intercept(c, svm::exception_intercept(13), false);
  // [L] sev_es_init_vmcb: the VMSA PA without the C-bit.
  c.vmsa_pa = sev.vmsa_pa.value;
  if (sev.allowed_sev_features) {
    c.allowed_sev_features = sev.vmsa_features | svm::kAllowedSevFeaturesValid;
  }
  // "Can't intercept CR register access, HV can't modify CR registers".
  for (Intercept i : {Intercept::kCr0Read, Intercept::kCr4Read, Intercept::kCr8Read,
                      Intercept::kCr0Write, Intercept::kCr4Write, Intercept::kCr8Write,
                      Intercept::kSelectiveCr0, Intercept::kXsetbv}) {
    svm::set_intercept(c, i, false);
  }
  // "Track EFER/CR register changes": the write traps.
  for (Intercept i : {Intercept::kTrapEferWrite, Intercept::kTrapCr0Write,
                      svm::cr_write_trap_intercept(4), Intercept::kTrapCr8Write}) {
    svm::set_intercept(c, i);
  }
  // DR intercepts: only DR7 read/write, unless DebugSwap, where #DB is not intercepted instead.
  c.intercepts[static_cast<size_t>(svm::InterceptWord::kDr)] = 0;
  if ((sev.vmsa_features & svm::sev_features::kDebugSwap) == 0) {
    svm::set_intercept(c, Intercept::kDr7Read);
    svm::set_intercept(c, Intercept::kDr7Write);
  } else {
    svm::set_intercept(c, svm::exception_intercept(1), false);
  }
  // [L] sev_es_vcpu_reset: the GHCB MSR starts as the SEV_INFO response.
  c.ghcb_gpa = sev_info_msr_value(sev.sev);
  c.clean = 0;
}

svm::SevEsSaveArea make_initial_vmsa(const LongModeStart& start, uint64_t sev_features) {
  svm::VmcbSaveArea s{};
  init_long_mode_save_area(s, start);
  svm::SevEsSaveArea v{};
  v.es = s.es;
  v.cs = s.cs;
  v.ss = s.ss;
  v.ds = s.ds;
  v.fs = s.fs;
  v.gs = s.gs;
  v.gdtr = s.gdtr;
  v.ldtr = s.ldtr;
  v.idtr = s.idtr;
  v.tr = s.tr;
  v.cpl = 0;
  v.vmpl = 0;
  v.efer = s.efer;
  v.cr0 = s.cr0;
  v.cr3 = s.cr3;
  v.cr4 = s.cr4;
  v.dr6 = s.dr6;
  v.dr7 = s.dr7;
  v.rflags = s.rflags;
  v.rip = s.rip;
  v.rsp = s.rsp;
  v.rax = s.rax;
  v.g_pat = s.g_pat;
  // [L] sev.c sev_es_sync_vmsa: xcr0 from the vCPU (reset value 1 = x87), sev_features from
  // the VM. MXCSR 0x1F80 and FCW 0x37F are the architectural reset values (APM vol 1 11.5.9,
  // UNCONFIRMED: recalled); KVM copies them from its FPU state.
  v.xcr0 = 1;
  v.mxcsr = 0x1F80;
  v.x87_fcw = 0x37F;
  v.sev_features = sev_features;
  return v;
}

}  // namespace snpemu::hv
