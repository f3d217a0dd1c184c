// emu/hv/exit_vmmcall.cc: the VMMCALL intercept (svm.c vmmcall_interception -> x86.c
// kvm_emulate_hypercall): the KVM hypercall ABI, nr in RAX, arguments in RBX, RCX, RDX, RSI,
// the result in RAX. PLATFORM-FACTS 7.2.
#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {

ExitOutcome handle_vmmcall(ExitContext& ctx) {
  const uint64_t next_rip = ctx.vmcb.control.next_rip;
  if (!has_next_rip(ctx)) return no_next_rip(ctx);
  // [L] x86.c: outside 64-bit mode nr and the arguments are truncated to 32 bits and so is
  // the result. is_64_bit_mode is true for protected state (x86.h).
  const bool op64 = protected_state(ctx) || guest_64bit(ctx.vmcb);
  const uint64_t mask = op64 ? ~uint64_t{0} : 0xFFFF'FFFFull;
  const uint64_t nr = read_gpr(ctx, kRax) & mask;
  const uint64_t a0 = read_gpr(ctx, kRbx) & mask, a1 = read_gpr(ctx, kRcx) & mask,
                 a2 = read_gpr(ctx, kRdx) & mask;
  uint64_t ret = -kKvmEnosys;
  if (ctx.vmcb.save.cpl != 0) {
    ret = -kKvmEperm;  // [L] x86.c: a hypercall from CPL > 0 fails with -KVM_EPERM
  } else if (nr == kKvmHcVapicPollIrq) {
    ret = 0;
  } else if (nr == kKvmHcMapGpaRange &&
             (ctx.vm.options.hypercall_exit_enabled & (uint64_t{1} << kKvmHcMapGpaRange)) != 0) {
    // [L] x86.c KVM_HC_MAP_GPA_RANGE: gpa page aligned, npages non-zero, no GFN wrap, else
    // -KVM_EINVAL without an exit; otherwise KVM_EXIT_HYPERCALL with ret = 0 and flags.
    const bool bad =
        (a0 & kPageOffsetMask) != 0 || a1 == 0 || (a0 >> kPageShift) + a1 <= (a0 >> kPageShift);
    if (bad) {
      ret = -kKvmEinval;
    } else {
      KvmRun& run = ctx.vcpu.run;
      begin_run(run, KvmExitReason::kHypercall,
                "KVM_HC_MAP_GPA_RANGE gpa " + hex(a0) + " npages " + hex(a1) + " attrs " + hex(a2));
      run.hypercall.nr = kKvmHcMapGpaRange;
      run.hypercall.args = {a0, a1, a2, 0, 0, 0};
      run.hypercall.ret = 0;
      run.hypercall.flags = op64 ? kKvmExitHypercallLongMode : 0;
      ctx.vcpu.completion =
          Completion{.kind = Completion::Kind::kHypercall, .next_rip = next_rip, .op_64bit = op64};
      return to_vmm(ExitPath::kHypercallExit);
    }
  }
  // Other numbers (KICK_CPU 5, CLOCK_PAIRING 9, SEND_IPI 10, SCHED_YIELD 11 need PV features
  // this model does not advertise) return -KVM_ENOSYS, as KVM does without those features
  // (UNCONFIRMED for CLOCK_PAIRING, which KVM answers -KVM_EOPNOTSUPP on a non-TSC host clock).
  write_gpr(ctx, kRax, ret & mask);
  skip_instruction(ctx);
  return resume(ExitPath::kHypercall);
}

}  // namespace snpemu::hv::internal
