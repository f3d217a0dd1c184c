// cpu/svm/exit_rules.cc: TLB_CONTROL decoding and the NRIPS rule (which exits write next_rip).
#include "cpu/svm/svm.h"

namespace snpemu::svm {

std::optional<TlbControl> decode_tlb_control(uint8_t tlb_ctl) {
  // APM vol 2 15.16.1 / Linux TLB_CONTROL_*: 0 nothing, 1 flush all ASIDs, 3 flush this ASID,
  // 7 flush this ASID's non-global entries. Other values are reserved.
  // UNCONFIRMED: hardware behaviour for a reserved value (not in the 15.5.1 check list); the
  // caller decides (KVM's nested code refuses anything but 0 and 1 for its own reasons).
  switch (tlb_ctl) {
    case 0:
      return TlbControl::kDoNothing;
    case 1:
      return TlbControl::kFlushAll;
    case 3:
      return TlbControl::kFlushAsid;
    case 7:
      return TlbControl::kFlushAsidNonGlobal;
    default:
      return std::nullopt;
  }
}

bool exit_writes_next_rip(uint64_t exit_code, bool exception_from_insn) {
  // APM vol 2 15.7.1: nRIP is saved on #VMEXITs due to instruction intercepts (15.9), MSR and
  // IOIO intercepts, and exceptions caused by INT3, INTO and BOUND; otherwise it is zero.
  const auto c = static_cast<ExitCode>(exit_code);
  if (exit_code >= to_u64(ExitCode::kExcpBase) && exit_code <= to_u64(ExitCode::kLastExcp)) {
    const uint64_t vector = exit_code - to_u64(ExitCode::kExcpBase);
    return exception_from_insn && (vector == 3 || vector == 4 || vector == 5);
  }
  // UNCONFIRMED: CR/DR access intercepts (MOV CRn/DRn, LMSW, CLTS -> CR0 selective write) are
  // treated as instruction intercepts; KVM relies on next_rip for emulated CR/DR exits.
  if (exit_code < to_u64(ExitCode::kExcpBase)) return true;
  if (c == ExitCode::kCr0SelWrite) return true;
  // Instruction intercepts of word 3 (descriptor-table accesses, RDTSC ... INVLPGA) and the
  // MSR and IOIO intercepts.
  if (exit_code >= to_u64(ExitCode::kIdtrRead) && exit_code <= to_u64(ExitCode::kMsr)) {
    return true;
  }
  // Word 4 instruction intercepts VMRUN .. RDPRU.
  if (exit_code >= to_u64(ExitCode::kVmrun) && exit_code <= to_u64(ExitCode::kRdpru)) {
    return true;
  }
  // Word 5 instruction intercepts (INVLPGB, INVLPGB illegal, INVPCID, MCOMMIT, TLBSYNC).
  // UNCONFIRMED: by analogy with the 15.9 instruction intercepts.
  if (exit_code >= to_u64(ExitCode::kInvlpgb) && exit_code <= to_u64(ExitCode::kTlbsync)) {
    return true;
  }
  // UNCONFIRMED: idle HLT is the HLT intercept taken when no interrupt is pending; treated as
  // the HLT instruction intercept it refines.
  if (c == ExitCode::kIdleHlt) return true;
  // Everything else: INTR/NMI/SMI/INIT/VINTR, task switch, FERR_FREEZE, shutdown, the write
  // traps (they exit after the instruction completed; RIP already points past it), bus lock,
  // NPF, AVIC, VMGEXIT (UNCONFIRMED: VMGEXIT state goes to the VMSA's guest_nrip),
  // VMEXIT_INVALID.
  return false;
}

}  // namespace snpemu::svm
