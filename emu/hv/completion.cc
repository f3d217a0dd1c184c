// emu/hv/completion.cc: what KVM_RUN does before entering the guest: finish the exit the VMM
// just handled (x86.c vcpu->arch.complete_userspace_io) and request the TLB flush the NPT needs.
#include <array>
#include <cstring>

#include "emu/hv/exit_internal.h"

namespace snpemu::hv {

using internal::resume;

namespace {

ExitOutcome complete_one(ExitContext& ctx) {
  const Completion c = ctx.vcpu.completion;
  ctx.vcpu.completion = Completion{};
  KvmRun& run = ctx.vcpu.run;
  switch (c.kind) {
    case Completion::Kind::kNone:
      return resume(ExitPath::kCompletion);
    case Completion::Kind::kPioOut:  // [L] complete_fast_pio_out: skip the OUT
      internal::set_rip(ctx, c.next_rip);
      return resume(ExitPath::kCompletion);
    case Completion::Kind::kPioIn: {  // [L] complete_fast_pio_in: data into RAX, skip the IN
      uint32_t value = 0;
      std::memcpy(&value, run.pio_data.data(), c.size <= 4 ? c.size : 4);
      write_gpr(ctx, kRax, internal::merge_in(read_gpr(ctx, kRax), c.size, value));
      internal::set_rip(ctx, c.next_rip);
      return resume(ExitPath::kCompletion);
    }
    case Completion::Kind::kStringIn:
    case Completion::Kind::kStringOut:
      if (ctx.vm.memory == nullptr || ctx.vm.vm == nullptr) {
        const std::array<uint64_t, 1> data{c.exit_info_1};
        return internal::internal_error(ctx, kKvmInternalErrorEmulation, data,
                                        "VmContext without Memory or Vm: a run-loop bug");
      }
      return internal::complete_string_io(ctx, c);
    case Completion::Kind::kHypercall: {
      // [L] x86.c complete_hypercall_exit: RAX = ret (32 bits outside 64-bit mode), skip.
      const uint64_t ret = c.op_64bit
                               ? run.hypercall.ret
                               : static_cast<uint32_t>(run.hypercall.ret);
      write_gpr(ctx, kRax, ret);
      internal::set_rip(ctx, c.next_rip);
      return resume(ExitPath::kCompletion);
    }
    case Completion::Kind::kGhcbStringIn:
    case Completion::Kind::kGhcbStringOut:
    case Completion::Kind::kGhcbMmio:
    case Completion::Kind::kGhcbPsc:
    case Completion::Kind::kPscMsr:
    case Completion::Kind::kApResetHold:
      return internal::complete_ghcb(ctx, c);
  }
  return resume(ExitPath::kCompletion);
}

}  // namespace

ExitOutcome complete_userspace_exit(ExitContext& ctx) {
  ExitOutcome o = complete_one(ctx);
  // sev_es_unmap_ghcb runs before the next VMRUN: the GHCB answer reaches guest memory once the
  // event has nothing left to ask the VMM.
  if (ctx.vcpu.sev_es.mapped) o = internal::ghcb_finish(ctx, o);
  return o;
}

// [L] svm.c svm_flush_tlb_asid: TLB_CONTROL_FLUSH_ASID on the next VMRUN after the NPT lost
// mappings (kvm_flush_remote_tlbs -> every vCPU). A vCPU that never ran flushes once too.
void prepare_vmrun(VmContext& vm, VcpuState& vcpu, svm::Vmcb& vmcb) {
  if (vm.npt == nullptr) return;
  if (vm.vm != nullptr) vm.npt->sync(vm.vm->mmu_invalidate_seq());
  if (vcpu.npt_flush_seen != vm.npt->flush_generation()) {
    vmcb.control.tlb_ctl = static_cast<uint8_t>(svm::TlbControl::kFlushAsid);
    vcpu.npt_flush_seen = vm.npt->flush_generation();
  }
}

}  // namespace snpemu::hv
