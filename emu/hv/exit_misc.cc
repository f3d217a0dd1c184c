// emu/hv/exit_misc.cc: the small handlers of svm.c's table: HLT, SHUTDOWN, INTR/NMI/SMI/INIT,
// VINTR, the SVM instructions a guest without nested SVM may not use, RDPMC, the instructions
// KVM emulates as NOPs, and the exception intercepts KVM reflects.
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {

// [L] x86.c kvm_emulate_halt: skip the HLT, then halt; with no in-kernel local APIC the halt is
// KVM_EXIT_HLT. An event already queued for the next entry (re-injected from exit_int_info, or
// a pending V_IRQ) wakes the vCPU at once instead (kvm_vcpu_has_events).
ExitOutcome handle_hlt(ExitContext& ctx) {
  if (!skip_instruction(ctx)) return no_next_rip(ctx);
  if ((ctx.vmcb.control.event_inj & svm::event_bits::kValid) != 0 ||
      (ctx.vmcb.control.int_ctl & svm::int_ctl::kVIrq) != 0 || ctx.vcpu.pending_irq) {
    return resume(ExitPath::kHlt);
  }
  begin_run(ctx.vcpu.run, KvmExitReason::kHlt, "HLT with no event pending");
  return to_vmm(ExitPath::kHlt);
}

// [L] svm.c shutdown_interception: KVM_EXIT_SHUTDOWN. KVM also re-initialises the VMCB, whose
// contents are undefined after a shutdown intercept; here the VMM must reset the vCPU
// (init_vmcb + a new save area) before running it again.
ExitOutcome handle_shutdown(ExitContext& ctx) {
  begin_run(ctx.vcpu.run, KvmExitReason::kShutdown,
            "shutdown intercept (triple fault); the VMCB is undefined until re-initialised");
  return to_vmm(ExitPath::kShutdown);
}

// [L] svm.c intr_interception / nmi_interception / nop_on_interception: the host took the
// event; nothing to do for the guest.
ExitOutcome handle_interrupt(ExitContext&) { return resume(ExitPath::kInterrupt); }

// [L] svm.c interrupt_window_interception / svm_clear_vintr: the window opened; drop the dummy
// V_IRQ request and the VINTR intercept.
ExitOutcome handle_vintr(ExitContext& ctx) {
  svm::set_intercept(ctx.vmcb.control, svm::Intercept::kVintr, false);
  ctx.vmcb.control.int_ctl &= ~(svm::int_ctl::kVIrq | svm::int_ctl::kVIntrPrioMask);
  ctx.vmcb.control.clean &= ~(svm::clean::kIntercepts | svm::clean::kIntr);
  return resume(ExitPath::kInterrupt);
}

// [L] svm.c nested_svm_check_permissions: VMRUN, VMLOAD, VMSAVE, STGI, CLGI and INVLPGA raise
// #UD while the guest's EFER.SVME is clear, which is always here (nested SVM is not modelled,
// so WRMSR EFER refuses SVME); skinit_interception, rdpru_interception (RDPRU not in guest
// CPUID) and RSM outside SMM are #UD too.
ExitOutcome handle_inject_ud(ExitContext& ctx) {
  return inject_or_fail(ctx, kUdVector, std::nullopt, ExitPath::kInjectUd);
}

// [L] svm.c rdpmc_interception -> kvm_rdpmc: no virtual PMU here, so every counter is invalid:
// #GP(0).
ExitOutcome handle_rdpmc(ExitContext& ctx) {
  return inject_or_fail(ctx, kGpVector, 0u, ExitPath::kInjectGp);
}

// [L] svm.c/x86.c: INVD (kvm_emulate_invd) and WBINVD (kvm_emulate_wbinvd, no assigned device)
// and MONITOR/MWAIT (kvm_emulate_monitor/mwait with the MWAIT_NEVER_UD_FAULTS quirk, on by
// default) complete as NOPs.
ExitOutcome handle_nop_skip(ExitContext& ctx) {
  if (!skip_instruction(ctx)) return no_next_rip(ctx);
  return resume(ExitPath::kNopSkip);
}

// [L] svm.c ud_interception -> handle_ud: without the forced-emulation prefix the #UD goes back
// to the guest.
ExitOutcome handle_reinject_ud(ExitContext& ctx) {
  return inject_or_fail(ctx, kUdVector, std::nullopt, ExitPath::kReinjectException);
}

// [L] svm.c ac_interception: #AC(0) back to the guest.
ExitOutcome handle_reinject_ac(ExitContext& ctx) {
  return inject_or_fail(ctx, kAcVector, 0u, ExitPath::kReinjectException);
}

// [L] svm.c mc_interception: the host handled the machine check; resume.
ExitOutcome handle_machine_check(ExitContext&) { return resume(ExitPath::kInterrupt); }

}  // namespace snpemu::hv::internal
