// emu/hv/exit_cpuid.cc: the CPUID intercept (svm.c cpuid_interception -> x86.c
// kvm_emulate_cpuid -> cpuid.c kvm_cpuid).
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {

// [L] kvm_emulate_cpuid: function = EAX, index = ECX; the four outputs are written as 32-bit
// values (zero-extending RAX/RBX/RCX/RDX); then the instruction is skipped. [L] kvm_cpuid: an
// absent leaf returns zeros for AMD guests (the Intel "highest basic leaf" remap of
// get_out_of_range_cpuid_entry applies only to Intel-compatible guests: not modelled).
ExitOutcome handle_cpuid(ExitContext& ctx) {
  if (!has_next_rip(ctx)) return no_next_rip(ctx);
  const auto function = static_cast<uint32_t>(read_gpr(ctx, kRax));
  const auto index = static_cast<uint32_t>(read_gpr(ctx, kRcx));
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (const KvmCpuidEntry2* e = ctx.vm.cpuid.find(function, index)) {
    eax = e->eax;
    ebx = e->ebx;
    ecx = e->ecx;
    edx = e->edx;
    // [L] cpuid.c kvm_update_cpuid_runtime: bits that follow guest state, recomputed here from
    // the current CR4 and APIC base (KVM recomputes them when those change, same result):
    // CPUID.1:ECX[27] OSXSAVE = CR4.OSXSAVE (bit 18), CPUID.1:EDX[9] APIC = APIC_BASE.EN,
    // CPUID.7.0:ECX[4] OSPKE = CR4.PKE (bit 22). Each only if the VMM's entry has the feature
    // (XSAVE = 1:ECX[26], PKU = 7.0:ECX[3]); APIC follows EN regardless.
    const uint64_t cr4 = ctx.vmcb.save.cr4;
    if (function == 1) {
      ecx &= ~(1u << 27);
      if ((e->ecx & (1u << 26)) != 0 && (cr4 & (uint64_t{1} << 18)) != 0) ecx |= 1u << 27;
      edx &= ~(1u << 9);
      if ((ctx.vcpu.msr.apic_base & (1u << 11)) != 0) edx |= 1u << 9;
    }
    if (function == 7 && index == 0) {
      ecx &= ~(1u << 4);
      if ((e->ecx & (1u << 3)) != 0 && (cr4 & (uint64_t{1} << 22)) != 0) ecx |= 1u << 4;
    }
  }
  write_gpr(ctx, kRax, eax);
  write_gpr(ctx, kRbx, ebx);
  write_gpr(ctx, kRcx, ecx);
  write_gpr(ctx, kRdx, edx);
  skip_instruction(ctx);
  return resume(ExitPath::kCpuid);
}

}  // namespace snpemu::hv::internal
