// emu/hv/ghcb_nae.cc: a GHCB-page VMGEXIT (sev.c sev_handle_vmgexit after the MSR-protocol
// test): map (one copy of the page), sync the inputs (sev_es_sync_from_ghcb), the SNP
// registration check, sev_es_validate_vmgexit (ghcb::validate_vmgexit on the copy), then one
// small handler per NAE event; hardware exit codes run the SVM exit table's handler with the
// register file taken from the GHCB. PLATFORM-FACTS 2.1-2.6.
#include <algorithm>
#include <array>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

using ghcb::NaeExitCode;

ExitOutcome einval(ExitContext& ctx, ExitPath path, std::string message) {
  begin_run(ctx.vcpu.run, KvmExitReason::kUnknown, std::move(message));
  ExitOutcome o = to_vmm(path);
  o.kvm_run_error = KvmErrno::kEinval;
  return o;
}

// [L] kvm_emulate_ap_reset_hold: hold type NAE; the answer (SW_EXITINFO2) stays 0 until a SIPI.
// No in-kernel LAPIC: KVM_EXIT_AP_RESET_HOLD (PLATFORM-FACTS 9.1).
ExitOutcome ap_hlt_loop(ExitContext& ctx) {
  ctx.vcpu.sev_es.hold = ApResetHoldType::kNaeEvent;
  ctx.vcpu.sev_es.mp_state = MpState::kApResetHold;
  begin_run(ctx.vcpu.run, KvmExitReason::kApResetHold, "AP reset hold (AP_HLT_LOOP NAE event)");
  ctx.vcpu.completion = Completion{.kind = Completion::Kind::kApResetHold};
  return to_vmm(ExitPath::kGhcbApResetHold);
}

// [L] AP_JUMP_TABLE: 0 set (EXITINFO2 stored per VM), 1 get; else malformed input (2, 5), or
// the #UD exception request of KVM 5.11-5.x when the VMM picks it.
ExitOutcome ap_jump_table(ExitContext& ctx) {
  const uint64_t op = ctx.vmcb.control.exit_info_1;
  if (op == static_cast<uint64_t>(ghcb::ApJumpTableRequest::kSet)) {
    ctx.vm.ap_jump_table = ctx.vmcb.control.exit_info_2;
  } else if (op == static_cast<uint64_t>(ghcb::ApJumpTableRequest::kGet)) {
    ghcb_set_exit_info(ctx, 0, ctx.vm.ap_jump_table);
  } else if (ctx.vm.sev.ap_jump_table_bad_op_ud) {
    ghcb_request_exception(ctx, kUdVector);
  } else {
    return ghcb_error(ctx, ghcb::malformed(ghcb::GhcbErrorCode::kInvalidInput,
                                           "unsupported AP jump table request"));
  }
  return resume(ExitPath::kGhcbNae);
}

// GHCB spec RDTSC/RDTSCP: RAX/RDX = guest TSC (host TSC + tsc_offset), RDTSCP also RCX =
// TSC_AUX. Upstream KVM has no RDTSC handler (internal error) and answers RDTSCP with #UD,
// selectable with SevOptions::nae_tsc_via_exit_table.
ExitOutcome tsc(ExitContext& ctx, bool rdtscp) {
  if (ctx.vm.sev.nae_tsc_via_exit_table) {
    return invoke_exit_handler(ctx, rdtscp ? svm::to_u64(svm::ExitCode::kRdtscp)
                                           : svm::to_u64(svm::ExitCode::kRdtsc));
  }
  const uint64_t t = ctx.host_tsc + ctx.vmcb.control.tsc_offset;
  write_gpr(ctx, kRax, static_cast<uint32_t>(t));
  write_gpr(ctx, kRdx, t >> 32);
  if (rdtscp) write_gpr(ctx, kRcx, static_cast<uint32_t>(ctx.vcpu.msr.tsc_aux));
  return resume(ExitPath::kGhcbNae);
}

ExitOutcome dispatch(ExitContext& ctx, uint64_t code) {
  switch (static_cast<NaeExitCode>(code)) {
    case NaeExitCode::kMmioRead:
      return ghcb_mmio(ctx, false);
    case NaeExitCode::kMmioWrite:
      return ghcb_mmio(ctx, true);
    case NaeExitCode::kNmiComplete:  // NMIs are not modelled: nothing is masked
      return resume(ExitPath::kGhcbNae);
    case NaeExitCode::kApHltLoop:
      return ap_hlt_loop(ctx);
    case NaeExitCode::kApJumpTable:
      return ap_jump_table(ctx);
    case NaeExitCode::kHvFeatures:
      ghcb_set_exit_info(ctx, 0, ctx.vm.sev.hv_features);
      return resume(ExitPath::kGhcbNae);
    case NaeExitCode::kTermRequest: {
      const ghcb::TermRequest t = ghcb::decode_nae_term(ctx.vmcb.control.exit_info_1);
      return sev_terminate(ctx, "guest termination request (NAE): reason set " +
                                    std::to_string(t.reason_set) + " code " +
                                    std::to_string(t.reason_code));
    }
    case NaeExitCode::kPsc:
      return psc_ghcb_begin(ctx);
    case NaeExitCode::kGuestRequest:
      return ghcb_guest_request(ctx, false);
    case NaeExitCode::kExtGuestRequest:
      return ghcb_guest_request(ctx, true);
    case NaeExitCode::kApCreation:
      return ghcb_ap_creation(ctx);
    case NaeExitCode::kUnsupportedEvent:  // [L] vcpu_unimpl, KVM_RUN -EINVAL
      return einval(ctx, ExitPath::kGhcbUnsupported,
                    "guest reported an unsupported event: exit_info_1 " +
                        hex(ctx.vmcb.control.exit_info_1) + " exit_info_2 " +
                        hex(ctx.vmcb.control.exit_info_2));
    case NaeExitCode::kRdtsc:
      return tsc(ctx, false);
    case NaeExitCode::kRdtscp:
      return tsc(ctx, true);
    case NaeExitCode::kDr7Read:
    case NaeExitCode::kDr7Write:
      // [L] svm.c dr_interception: for SEV-ES "return 1" at once (DR7 is swapped by hardware).
      return resume(ExitPath::kNopSkip);
    default:  // CPUID, IOIO, MSR, VMMCALL, RDPMC, INVD, WBINVD, MONITOR, MWAIT
      return invoke_exit_handler(ctx, code);
  }
}

}  // namespace

ExitOutcome handle_ghcb_page(ExitContext& ctx) {
  const uint64_t gpa = ctx.vmcb.control.ghcb_gpa;
  // [L] "Without a GHCB, just return right back to the guest": GPA 0, or a page KVM cannot map
  // (no memslot; here also private memory, which the hypervisor cannot read).
  if (gpa == 0) {
    ctx.vcpu.run.message = "VMGEXIT with GHCB GPA 0";
    return resume(ExitPath::kGhcbNoGhcb);
  }
  std::array<std::byte, ghcb::kGhcbPageSize> page{};
  if (auto r = read_guest_phys(
          ctx.vm, gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(page.data()), page.size()));
      !r) {
    ctx.vcpu.run.message = "VMGEXIT: GHCB at " + hex(gpa) + " not mappable (" +
                           guest_mem_error_name(r.error()) + "): guest resumed";
    return resume(ExitPath::kGhcbNoGhcb);
  }
  SevEsVcpu& es = ctx.vcpu.sev_es;
  es.mapped = true;
  es.ghcb_gpa = gpa;
  es.snapshot = ghcb::GhcbSnapshot::take(page);  // the one read of the page
  es.has_exit_info = false;
  es.scratch.clear();
  es.scratch_sync = false;

  // [L] sev_es_sync_from_ghcb: the register file is zeroed, then filled from valid fields;
  // exit code and info go to the VMCB control area.
  const ghcb::VmgexitInputs in = ghcb::kvm_sync_from_ghcb(es.snapshot);
  ctx.vcpu.gprs = GuestGprs{};
  ctx.vcpu.gprs.r[kRax] = in.rax;
  ctx.vcpu.gprs.r[kRbx] = in.rbx;
  ctx.vcpu.gprs.r[kRcx] = in.rcx;
  ctx.vcpu.gprs.r[kRdx] = in.rdx;
  ctx.vcpu.gprs.r[kRsi] = in.rsi;
  ctx.vmcb.save.cpl = in.cpl;
  ctx.vmcb.control.exit_code = in.sw_exit_code;
  ctx.vmcb.control.exit_info_1 = in.sw_exit_info_1;
  ctx.vmcb.control.exit_info_2 = in.sw_exit_info_2;

  const bool snp = ctx.vm.vm->type() == VmType::kSnp;
  if (snp && es.registered_gpa != gpa) {  // [L] ghcb_gpa_is_registered: KVM_RUN -EINVAL
    return ghcb_finish(ctx, einval(ctx, ExitPath::kGhcbUnregistered,
                                   "GHCB GPA " + hex(gpa) + " is not the registered one"));
  }
  if (auto v = ghcb::validate_vmgexit(es.snapshot, ghcb::VmgexitContext{.snp_guest = snp}); !v) {
    return ghcb_finish(ctx, ghcb_error(ctx, v.error()));
  }
  ghcb_set_exit_info(ctx, 0, 0);  // [L] svm_vmgexit_success(svm, 0) before dispatch
  return ghcb_finish(ctx, dispatch(ctx, in.sw_exit_code));
}

}  // namespace snpemu::hv::internal
