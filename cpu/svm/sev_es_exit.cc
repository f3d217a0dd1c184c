// cpu/svm/sev_es_exit.cc: in an SEV-ES guest an intercept either exits to the hypervisor
// directly ("automatic exit", AE) or raises #VC (vector 29) in the guest with the exit code as
// error code ("non-automatic exit", NAE), which the guest turns into a GHCB request.
//
// UNCONFIRMED (PLATFORM-FACTS 11.12: the APM's AE table is not in the digest). The choice:
//  * AE: events not caused by an instruction the guest could emulate through the GHCB, i.e.
//    INTR, NMI, SMI, INIT, VINTR; PAUSE and HLT (KVM's SEV-ES halt and pause-loop handling
//    work without a GHCB exchange); FERR_FREEZE, SHUTDOWN; intercepted exceptions (KVM keeps
//    #AC and #DB intercepts on SEV-ES guests as denial-of-service protection, which only works
//    if they exit directly); the EFER/CRn write traps (KVM's SEV-ES setup relies on them,
//    PLATFORM-FACTS 5.5); NPF without the RSVD bit; AVIC, bus-lock, idle-HLT and PML exits;
//    VMGEXIT itself; VMEXIT_INVALID / VMEXIT_BUSY (never delivered to a guest).
//  * NAE (#VC): everything else, notably every exit code listed as usable through the GHCB in
//    PLATFORM-FACTS 2.3 (DR7 read/write, RDTSC, RDPMC, CPUID, INVD, IOIO, MSR, VMMCALL, RDTSCP,
//    WBINVD, MONITOR, MWAIT) and NPF with RSVD set (MMIO, PLATFORM-FACTS 5.5), plus the other
//    instruction intercepts (CR/DR access, descriptor tables, PUSHF/POPF, IRET, INTn, INVLPG,
//    XSETBV, task switch, the SVM instructions ...).
#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

constexpr uint64_t kNpfRsvd = 1u << 3;  // #PF / NPF error code RSVD bit (PLATFORM-FACTS 6)

constexpr bool in(uint64_t code, ExitCode first, ExitCode last) {
  return code >= to_u64(first) && code <= to_u64(last);
}

}  // namespace

SevEsExitKind classify_sev_es_exit(uint64_t exit_code, uint64_t exit_info_1) {
  const auto c = static_cast<ExitCode>(exit_code);
  if (c == ExitCode::kNpf) {
    return (exit_info_1 & kNpfRsvd) != 0 ? SevEsExitKind::kVc : SevEsExitKind::kAutomatic;
  }
  const bool automatic =
      in(exit_code, ExitCode::kExcpBase, ExitCode::kLastExcp) ||
      in(exit_code, ExitCode::kIntr, ExitCode::kVintr) || c == ExitCode::kPause ||
      c == ExitCode::kHlt || c == ExitCode::kFerrFreeze || c == ExitCode::kShutdown ||
      in(exit_code, ExitCode::kEferWriteTrap, ExitCode::kCr15WriteTrap) ||
      c == ExitCode::kBusLock || c == ExitCode::kIdleHlt || c == ExitCode::kAvicIncompleteIpi ||
      c == ExitCode::kAvicUnacceleratedAccess || c == ExitCode::kVmgexit ||
      c == ExitCode::kPmlFull || c == ExitCode::kBusy || c == ExitCode::kInvalid;
  return automatic ? SevEsExitKind::kAutomatic : SevEsExitKind::kVc;
}

}  // namespace snpemu::svm
