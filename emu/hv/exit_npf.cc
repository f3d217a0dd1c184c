// emu/hv/exit_npf.cc: the nested page fault intercept (svm.c npf_interception ->
// kvm_mmu_page_fault -> the TDP MMU): fault the page in through Vm::handle_npf (memslots,
// attributes, guest_memfd) and map it in the NPT, or exit to the VMM.
#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {

ExitOutcome handle_npf(ExitContext& ctx) {
  const uint64_t exit_info_1 = ctx.vmcb.control.exit_info_1;
  const uint64_t gpa = ctx.vmcb.control.exit_info_2;  // PLATFORM-FACTS 4.8: the faulting GPA
  Vm& vm = *ctx.vm.vm;
  Npt& npt = *ctx.vm.npt;
  // kvm->mmu_invalidate_seq: mappings zapped behind the NPT's back (no notifier) go away first.
  npt.sync(vm.mmu_invalidate_seq());
  const NpfResult r = vm.handle_npf(exit_info_1, Gpa{gpa}, ctx.vm.options.private_fault_source);
  const FaultOutcome& out = r.outcome;
  switch (out.kind) {
    case FaultOutcome::Kind::kMap: {
      const Gfn gfn = gfn_of(Gpa{gpa});
      // KVM's TDP MMU maps RAM executable (ACC_ALL); NX appears only with its NX-huge-page
      // mitigation, which 4 KiB mappings do not need. The C-bit marks private backing of a VM
      // with memory encryption (UNCONFIRMED: KVM puts the host's SME mask in every SPTE; the
      // issue's model selects encryption per leaf).
      const NptRights rights{.writable = out.writable,
                             .executable = true,
                             .encrypted = out.private_backing && vm.features().memory_encryption};
      // The leaf is already there: the access was allowed (RET_PF_SPURIOUS [L] mmu.c), e.g. a
      // vCPU faulted before another one's fault mapped the page.
      if (npt.maps(gfn, out.pfn, rights)) return resume(ExitPath::kNpfSpurious);
      if (auto m = npt.map(gfn, out.pfn, rights); !m) {
        const std::array<uint64_t, 2> data{gpa, exit_info_1};
        ExitOutcome o =
            internal_error(ctx, kKvmInternalErrorEmulation, data,
                           "NPT map of gpa " + hex(gpa) + " failed: " + m.error().describe());
        o.kvm_run_error = m.error().code;
        return o;
      }
      return resume(ExitPath::kNpfMap);
    }
    case FaultOutcome::Kind::kMemoryFaultExit: {
      KvmRun& run = ctx.vcpu.run;
      begin_run(run, KvmExitReason::kMemoryFault, out.why);
      run.memory_fault = out.memory_fault;
      ExitOutcome o = to_vmm(ExitPath::kNpfMemoryFault);
      o.kvm_run_error = out.error;  // KVM_RUN returns -EFAULT (or the gmem error) with it
      return o;
    }
    case FaultOutcome::Kind::kEmulateMmio:
      break;
  }
  // MMIO needs the faulting instruction decoded (KVM's emulator with decode-assist bytes); the
  // model has no decoder here, so this is an emulation failure with the GPA and error code.
  const std::array<uint64_t, 2> data{gpa, exit_info_1};
  const char* why = out.mmio == FaultOutcome::MmioReason::kNoSlot ? "no memslot"
                    : out.mmio == FaultOutcome::MmioReason::kReadonlyWrite
                        ? "write to a read-only memslot"
                        : "reserved-bit (MMIO) fault";
  return internal_error(ctx, kKvmInternalErrorEmulation, data,
                        "MMIO access at gpa " + hex(gpa) + " (" + why +
                            "): instruction emulation for KVM_EXIT_MMIO is not modelled",
                        ExitPath::kNpfMmio);
}

}  // namespace snpemu::hv::internal
