// emu/hv/ghcb_msr.cc: SVM_EXIT_VMGEXIT (sev.c sev_handle_vmgexit) and the GHCB MSR protocol
// (sev_handle_vmgexit_msr_protocol): one small function per request. PLATFORM-FACTS 1.1-1.9.
// The MSR value travels in VMCB control.ghcb_gpa (written at #VMEXIT, loaded at VMRUN).
#include <array>
#include <variant>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

using ghcb::MsrCode;

bool snp(const ExitContext& ctx) { return ctx.vm.vm->type() == VmType::kSnp; }

ExitOutcome answered(ExitContext& ctx, uint64_t msr) {
  ctx.vmcb.control.ghcb_gpa = msr;
  return resume(ExitPath::kGhcbMsrProtocol);
}

// [L] GHCB_MSR_SEV_INFO(ghcb_version, GHCB_VERSION_MIN, sev_enc_bit): the VMM's range here.
ExitOutcome sev_info(ExitContext& ctx) { return answered(ctx, sev_info_msr_value(ctx.vm.sev)); }

// [L] CPUID_REQ: RAX = function, RCX = 0, the CPUID intercept, then the selected register in
// 63:32 with request bits 31:12 kept and 0x005 in 11:0. If the intercept fails, the MSR is left.
ExitOutcome cpuid(ExitContext& ctx, const ghcb::CpuidRequest& req) {
  const uint64_t msr = ctx.vmcb.control.ghcb_gpa;
  ctx.vcpu.gprs = GuestGprs{};
  write_gpr(ctx, kRax, req.function);
  write_gpr(ctx, kRcx, 0);
  const ExitOutcome o = invoke_exit_handler(ctx, svm::to_u64(svm::ExitCode::kCpuid));
  if (o.action != ExitAction::kResumeGuest) return o;
  static constexpr unsigned kRegs[4] = {kRax, kRbx, kRcx, kRdx};
  const auto value = static_cast<uint32_t>(read_gpr(ctx, kRegs[static_cast<unsigned>(req.reg)]));
  return answered(ctx, ghcb::kvm_cpuid_msr_response(msr, value));
}

// [L] AP_RESET_HOLD_REQ: hold type MSR, response pre-set to (result 0, 0x007), then
// kvm_emulate_ap_reset_hold. The model has no in-kernel local APIC, so the hold is
// KVM_EXIT_AP_RESET_HOLD with mp_state AP_RESET_HOLD (PLATFORM-FACTS 1.8, 9.1); the VMM wakes the
// vCPU with sev_deliver_sipi. Minimal model: no INIT/SIPI routing between vCPUs here.
ExitOutcome ap_reset_hold(ExitContext& ctx) {
  ctx.vcpu.sev_es.hold = ApResetHoldType::kMsrProtocol;
  ctx.vcpu.sev_es.mp_state = MpState::kApResetHold;
  ctx.vmcb.control.ghcb_gpa = ghcb::encode_msr_response(ghcb::ApResetHoldResponse{.result = 0});
  begin_run(ctx.vcpu.run, KvmExitReason::kApResetHold, "AP reset hold (GHCB MSR protocol)");
  ctx.vcpu.completion = Completion{.kind = Completion::Kind::kApResetHold};
  return to_vmm(ExitPath::kGhcbApResetHold);
}

// [L] PREF_GPA_REQ: SNP only (else termination); KVM has no preference.
ExitOutcome pref_gpa(ExitContext& ctx) {
  if (!snp(ctx)) return sev_terminate(ctx, "PREF_GPA_REQ from a non-SNP guest");
  return answered(ctx, ghcb::encode_msr_response(ghcb::PrefGpaResponse{}));
}

// [L] REG_GPA_REQ: SNP only; records GFN << 12 as the vCPU's GHCB and echoes the GFN.
ExitOutcome reg_gpa(ExitContext& ctx, const ghcb::RegGpaRequest& req) {
  if (!snp(ctx)) return sev_terminate(ctx, "REG_GPA_REQ from a non-SNP guest");
  ctx.vcpu.sev_es.registered_gpa = req.gfn << 12;
  return answered(ctx, ghcb::encode_msr_response(ghcb::RegGpaResponse{.gfn = req.gfn}));
}

// [L] HV_FT_REQ: the feature bitmap in 63:12.
ExitOutcome hv_features(ExitContext& ctx) {
  return answered(ctx, ghcb::encode_msr_response(
                           ghcb::HvFeaturesResponse{.features = ctx.vm.sev.hv_features}));
}

ExitOutcome terminate(ExitContext& ctx, const ghcb::TermRequest& t) {
  return sev_terminate(ctx, "guest termination request: reason set " +
                                std::to_string(t.reason_set) + " code " +
                                std::to_string(t.reason_code));
}

}  // namespace

ExitOutcome handle_msr_protocol(ExitContext& ctx) {
  const uint64_t msr = ctx.vmcb.control.ghcb_gpa;
  // KVM masks every field and never rejects reserved bits: the default (lenient) policy.
  auto req = ghcb::decode_msr_request(msr);
  if (!req) {  // [L] default: "Error, keep GHCB MSR value as-is"
    ctx.vcpu.run.message = "GHCB MSR " + hex(msr) + ": unknown request, left as is";
    return resume(ExitPath::kGhcbMsrProtocol);
  }
  struct Dispatch {
    ExitContext& ctx;
    uint64_t msr;
    ExitOutcome operator()(const ghcb::SevInfoRequest&) { return sev_info(ctx); }
    ExitOutcome operator()(const ghcb::CpuidRequest& r) { return cpuid(ctx, r); }
    ExitOutcome operator()(const ghcb::ApResetHoldRequest&) { return ap_reset_hold(ctx); }
    ExitOutcome operator()(const ghcb::PrefGpaRequest&) { return pref_gpa(ctx); }
    ExitOutcome operator()(const ghcb::RegGpaRequest& r) { return reg_gpa(ctx, r); }
    ExitOutcome operator()(const ghcb::PscMsrRequest&) {
      if (!snp(ctx)) return sev_terminate(ctx, "PSC_REQ from a non-SNP guest");
      return psc_msr_begin(ctx, msr);
    }
    // VMPL_REQ is not in KVM's switch: the default case leaves the MSR as is.
    ExitOutcome operator()(const ghcb::VmplRequest&) { return resume(ExitPath::kGhcbMsrProtocol); }
    ExitOutcome operator()(const ghcb::HvFeaturesRequest&) { return hv_features(ctx); }
    ExitOutcome operator()(const ghcb::TermRequest& t) { return terminate(ctx, t); }
  };
  return std::visit(Dispatch{ctx, msr}, *req);
}

ExitOutcome handle_vmgexit(ExitContext& ctx) {
  if (!protected_state(ctx)) {
    // VMGEXIT exits only from an SEV-ES guest (the core turns it into VMMCALL elsewhere).
    // As an exit without a handler (data[0] = exit code, data[1] = last vmentry CPU).
    const std::array<uint64_t, 2> data{ctx.vmcb.control.exit_code, 0};
    return internal_error(ctx, kKvmInternalErrorUnexpectedExitReason, data,
                          "VMGEXIT from a VM without protected state", ExitPath::kUnexpected);
  }
  // [L] sev_handle_vmgexit: GHCBInfo (low 12 bits) non-zero is the MSR protocol.
  if ((ctx.vmcb.control.ghcb_gpa & ghcb::kMsrInfoMask) != 0) return handle_msr_protocol(ctx);
  return handle_ghcb_page(ctx);
}

}  // namespace snpemu::hv::internal
