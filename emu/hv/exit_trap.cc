// emu/hv/exit_trap.cc: the SEV-ES write traps (svm.c efer_trap, cr_trap): trap-like exits after
// the guest already wrote EFER/CR0/CR4/CR8, the new value in exit_info_1 (APM vol 2 15.35.9,
// UNCONFIRMED: recalled). KVM updates its shadow of the register; the hypervisor cannot undo the
// write. Minimal model: the value is recorded (no KVM validity checks, no #GP answer:
// UNCONFIRMED whether a refused value matters for a protected guest) and the guest resumes.
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {

ExitOutcome handle_write_trap(ExitContext& ctx) {
  const uint64_t code = ctx.vmcb.control.exit_code;
  const uint64_t value = ctx.vmcb.control.exit_info_1;
  SevEsVcpu& es = ctx.vcpu.sev_es;
  if (code == svm::to_u64(svm::ExitCode::kEferWriteTrap)) {
    es.efer = value & ~svm::efer::kSvme;  // efer_trap drops SVME before kvm_set_msr_common
  } else {
    switch (code - svm::to_u64(svm::ExitCode::kCr0WriteTrap)) {
      case 0:
        es.cr0 = value;
        break;
      case 4:
        es.cr4 = value;
        break;
      default:
        es.cr8 = value & 0xF;  // kvm_set_cr8: bits 3:0 (TPR)
        break;
    }
  }
  return resume(ExitPath::kWriteTrap);
}

}  // namespace snpemu::hv::internal
