// emu/hv/ghcb_psc.cc: Page State Change in both GHCB forms, forwarded to the VMM as
// KVM_EXIT_HYPERCALL / KVM_HC_MAP_GPA_RANGE as KVM does (sev.c snp_begin_psc_msr,
// snp_complete_psc_msr, snp_begin_psc, snp_complete_one_psc). The GHCB form runs ghcb/'s
// resumable scan over one copy of the descriptor and writes the copy back at the end.
// PLATFORM-FACTS 1.9, 3.1-3.3, 7.2.
// Option ExitOptions::psc_handling = kInKernel (not KVM): each range KVM would send to the VMM
// is converted here with map_gpa_range (the VMM's own conversion, convert.h) and its result
// taken as the hypercall's ret, so the answers to the guest are those of the VMM path; the
// KVM_HC_MAP_GPA_RANGE exit enable (KVM_CAP_EXIT_HYPERCALL) is then not required.
#include <algorithm>
#include <cstring>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

bool in_kernel(const ExitContext& ctx) {
  return ctx.vm.options.psc_handling == PscHandling::kInKernel;
}

// user_exit_on_hypercall(KVM_HC_MAP_GPA_RANGE); always true when the kernel converts itself.
bool map_gpa_range_exits(const ExitContext& ctx) {
  return in_kernel(ctx) ||
         (ctx.vm.options.hypercall_exit_enabled & (uint64_t{1} << kKvmHcMapGpaRange)) != 0;
}

// The in-kernel conversion of one range: the ret the VMM would have written (non-zero = error).
uint64_t convert_in_kernel(ExitContext& ctx, uint64_t gpa, uint64_t npages, uint64_t attrs) {
  if (ctx.vm.vm == nullptr) {
    ctx.vcpu.run.message = "in-kernel PSC without a Vm: a run-loop bug";
    return kConvertErrorRet;
  }
  const ConvertResult r =
      map_gpa_range(*ctx.vm.vm, gpa, npages, attrs, ctx.vm.options.rmp_update_timing);
  if (!r.ok()) ctx.vcpu.run.message = "in-kernel PSC of gpa " + hex(gpa) + ": " + r.message;
  return r.ret;
}

void hypercall_exit(ExitContext& ctx, uint64_t gpa, uint64_t npages, uint64_t attrs,
                    Completion::Kind kind, std::string message) {
  KvmRun& run = ctx.vcpu.run;
  begin_run(run, KvmExitReason::kHypercall, std::move(message));
  run.hypercall.nr = kKvmHcMapGpaRange;
  run.hypercall.args = {gpa, npages, attrs, 0, 0, 0};
  run.hypercall.ret = 0;  // [L] KVM zeroes ret for QEMU <= 9.2
  run.hypercall.flags = 0;
  ctx.vcpu.completion = Completion{.kind = kind};
}

ExitOutcome psc_step(ExitContext& ctx, ghcb::PscStep step, ExitPath done_path) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  while (!step.done() && in_kernel(ctx)) {
    const ghcb::PscBatch& b = *step.batch;
    step = ghcb::psc_scan_complete(es.psc, convert_in_kernel(ctx, b.gpa, b.npages, b.attributes));
  }
  if (step.done()) {
    // snp_complete_psc: the descriptor's progress goes back to the scratch area, EXITINFO1 = 0,
    // EXITINFO2 = the PSC status.
    ghcb::psc_write_back(es.psc.desc,
                         std::span(reinterpret_cast<std::byte*>(es.scratch.data()), es.scratch.size()));
    ghcb_set_exit_info(ctx, 0, static_cast<uint64_t>(step.status));
    return resume(done_path);
  }
  const ghcb::PscBatch& b = *step.batch;
  hypercall_exit(ctx, b.gpa, b.npages, b.attributes, Completion::Kind::kGhcbPsc,
                 "PSC (GHCB) " + std::string(b.to_private ? "private" : "shared") + " gpa " +
                     hex(b.gpa) + " npages " + std::to_string(b.npages));
  return to_vmm(ExitPath::kGhcbPscExit);
}

// [L] snp_complete_psc_msr: ret != 0 -> GHCB_MSR_PSC_RESP_ERROR, else PSC_RESP (0x015).
uint64_t msr_psc_response(uint64_t ret) {
  return ret != 0 ? ghcb::kMsrPscRespError : ghcb::encode_msr_response(ghcb::PscMsrResponse{});
}

}  // namespace

ExitOutcome psc_msr_begin(ExitContext& ctx, uint64_t msr) {
  const auto req = ghcb::decode_msr_request(msr);
  const auto* psc = req ? std::get_if<ghcb::PscMsrRequest>(&*req) : nullptr;
  // [L] snp_begin_psc_msr: operation not 1/2, or the VMM did not enable MAP_GPA_RANGE exits ->
  // GHCB_MSR_PSC_RESP_ERROR and resume.
  if (psc == nullptr || !ghcb::psc_msr_operation_supported(*psc) || !map_gpa_range_exits(ctx)) {
    ctx.vmcb.control.ghcb_gpa = ghcb::kMsrPscRespError;
    ctx.vcpu.run.message = psc == nullptr || !ghcb::psc_msr_operation_supported(*psc)
                               ? "PSC_REQ with an operation other than private/shared"
                               : "PSC_REQ while KVM_HC_MAP_GPA_RANGE exits are disabled";
    return resume(ExitPath::kGhcbMsrProtocol);
  }
  const bool to_private = psc->operation == static_cast<uint8_t>(ghcb::PscOperation::kPrivate);
  const uint64_t gpa = psc->gfn << 12;
  const uint64_t attrs = (to_private ? kKvmMapGpaRangeEncrypted : kKvmMapGpaRangeDecrypted) |
                         kKvmMapGpaRangePageSz4K;
  if (in_kernel(ctx)) {
    ctx.vmcb.control.ghcb_gpa = msr_psc_response(convert_in_kernel(ctx, gpa, 1, attrs));
    return resume(ExitPath::kGhcbMsrProtocol);
  }
  hypercall_exit(ctx, gpa, 1, attrs, Completion::Kind::kPscMsr,
                 "PSC_REQ (MSR) " + std::string(to_private ? "private" : "shared") + " gpa " +
                     hex(gpa));
  return to_vmm(ExitPath::kGhcbPscExit);
}

ExitOutcome psc_ghcb_begin(ExitContext& ctx) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  const uint64_t scratch_gpa = es.snapshot.get_if_valid(ghcb::GhcbField::kSwScratch);
  auto area = ghcb::check_scratch_area(es.ghcb_gpa, scratch_gpa, ctx.vmcb.control.exit_info_2);
  if (!area) return ghcb_error(ctx, area.error());
  std::span<const std::byte> src;
  if (area->in_ghcb) {
    // KVM reads the descriptor in place whatever the length says: from the scratch offset to
    // the end of the page (of the copy); progress is written back inside the shared buffer.
    src = ghcb::scratch_bytes_in_ghcb(es.snapshot, *area);
    const size_t keep = ghcb::kGhcbSharedBufferEnd - area->ghcb_offset;
    const auto* first = reinterpret_cast<const uint8_t*>(src.data());
    es.scratch.assign(first, first + std::min(keep, src.size()));
    es.scratch_gpa = area->gpa;
    es.scratch_sync = true;
  } else {
    if (auto err = ghcb_setup_scratch(ctx, area->len, true)) return *err;
    src = std::span(reinterpret_cast<const std::byte*>(es.scratch.data()), es.scratch.size());
  }
  if (!map_gpa_range_exits(ctx)) {
    return ghcb_error(ctx, ghcb::psc_error(ghcb::PscStatus::kGenericError,
                                           "KVM_HC_MAP_GPA_RANGE exits are disabled"));
  }
  auto desc = ghcb::parse_psc_desc(src);
  if (!desc) return ghcb_error(ctx, desc.error());
  es.psc = ghcb::psc_scan_begin(*desc);
  return psc_step(ctx, ghcb::psc_scan_next(es.psc), ExitPath::kGhcbPscDone);
}

ExitOutcome psc_complete(ExitContext& ctx, const Completion& c) {
  const uint64_t ret = ctx.vcpu.run.hypercall.ret;
  if (c.kind == Completion::Kind::kPscMsr) {
    ctx.vmcb.control.ghcb_gpa = msr_psc_response(ret);
    return resume(ExitPath::kCompletion);
  }
  if (!ctx.vcpu.sev_es.mapped) return resume(ExitPath::kCompletion);
  return psc_step(ctx, ghcb::psc_scan_complete(ctx.vcpu.sev_es.psc, ret), ExitPath::kCompletion);
}

}  // namespace snpemu::hv::internal
