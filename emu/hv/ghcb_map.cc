// emu/hv/ghcb_map.cc: the GHCB "mapping" of one VMGEXIT (KVM svm->sev_es.ghcb): the response
// fields, the scratch area copied once (setup_vmgexit_scratch) and the write-back into guest
// memory when the exit finishes (sev_es_unmap_ghcb + sev_es_sync_to_ghcb). PLATFORM-FACTS 2.1,
// 2.2, 2.5 [L] arch/x86/kvm/svm/sev.c, svm.h svm_vmgexit_*.
#include <array>
#include <cstring>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

constexpr size_t kRaxOffset = offsetof(ghcb::GhcbSaveArea, rax);
constexpr size_t kRcxOffset = offsetof(ghcb::GhcbSaveArea, rcx);  // rcx, rdx, rbx: 24 bytes
constexpr size_t kExitInfoOffset = offsetof(ghcb::GhcbSaveArea, sw_exit_info_1);  // info1, info2
constexpr size_t kBitmapOffset = offsetof(ghcb::GhcbSaveArea, valid_bitmap);

}  // namespace

void ghcb_set_exit_info(ExitContext& ctx, uint64_t info1, uint64_t info2) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  es.has_exit_info = true;
  es.sw_exit_info_1 = info1;
  es.sw_exit_info_2 = info2;
}

void ghcb_request_exception(ExitContext& ctx, uint8_t vector) {
  const ghcb::GhcbResponse r = ghcb::exception_response(vector, std::nullopt);
  ghcb_set_exit_info(ctx, r.sw_exit_info_1, r.sw_exit_info_2);
}

ExitOutcome ghcb_error(ExitContext& ctx, const ghcb::GhcbError& e) {
  ghcb_set_exit_info(ctx, ghcb::error_sw_exit_info_1(e), ghcb::error_sw_exit_info_2(e));
  ctx.vcpu.run.message = std::string("GHCB error answer: ") + std::string(e.what) + " (" +
                         std::string(ghcb::ghcb_error_code_name(e.code)) + ")";
  return resume(e.kind == ghcb::GhcbErrorKind::kPscStatus ? ExitPath::kGhcbPscDone
                                                           : ExitPath::kGhcbBadInput);
}

std::optional<ExitOutcome> ghcb_setup_scratch(ExitContext& ctx, uint64_t len, bool sync) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  const uint64_t scratch_gpa = es.snapshot.get_if_valid(ghcb::GhcbField::kSwScratch);
  auto area = ghcb::check_scratch_area(es.ghcb_gpa, scratch_gpa, len);
  if (!area) return ghcb_error(ctx, area.error());
  es.scratch_gpa = area->gpa;
  es.scratch_sync = sync;
  es.scratch.assign(static_cast<size_t>(area->len), 0);
  if (area->in_ghcb) {
    // In the shared buffer: from the one copy of the page (check_scratch_area bounded it).
    const std::span<const std::byte> b = es.snapshot.bytes(area->ghcb_offset, area->len);
    if (!b.empty()) std::memcpy(es.scratch.data(), b.data(), b.size());
    return std::nullopt;
  }
  // [L] setup_vmgexit_scratch: kvm_read_guest into a kernel buffer; failure -> KVM_RUN -EFAULT.
  if (auto r = read_guest_phys(ctx.vm, area->gpa, es.scratch); !r) {
    const std::array<uint64_t, 2> data{area->gpa, area->len};
    ExitOutcome o = internal_error(ctx, kKvmInternalErrorEmulation, data,
                                   "GHCB scratch area at " + hex(area->gpa) +
                                       " unreadable: " + guest_mem_error_name(r.error()),
                                   ExitPath::kGhcbUnsupported);
    o.kvm_run_error = KvmErrno::kEfault;
    es.scratch.clear();
    es.scratch_sync = false;
    return o;
  }
  return std::nullopt;
}

void ghcb_unmap(ExitContext& ctx) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  if (!es.mapped) return;
  VmContext& vm = ctx.vm;
  if (es.scratch_sync && !es.scratch.empty()) {
    // Failure is ignored as KVM ignores kvm_write_guest's result here.
    (void)write_guest_phys(vm, es.scratch_gpa, es.scratch);
  }
  // The page image: the snapshot with KVM's answer applied (bitmap cleared, then the fields it
  // sets with their valid bits), written back field by field so bytes the guest may be changing
  // concurrently elsewhere in the page are left alone.
  std::array<std::byte, ghcb::kGhcbPageSize> page{};
  std::memcpy(page.data(), &es.snapshot.page(), page.size());
  std::span<std::byte, ghcb::kGhcbPageSize> sp(page);
  ghcb::clear_valid_bitmap(sp);
  if (es.has_exit_info) ghcb::write_exit_info(sp, es.sw_exit_info_1, es.sw_exit_info_2);
  const GuestGprs& g = ctx.vcpu.gprs;
  ghcb::write_gprs(sp, ghcb::GhcbResponse{.rax = g.r[kRax], .rbx = g.r[kRbx], .rcx = g.r[kRcx],
                                          .rdx = g.r[kRdx]});
  auto put = [&](size_t off, size_t n) {
    (void)write_guest_phys(vm, es.ghcb_gpa + off,
                           std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&page[off]), n));
  };
  if (es.has_exit_info) put(kExitInfoOffset, 16);
  put(kRaxOffset, 8);
  put(kRcxOffset, 24);
  put(kBitmapOffset, 16);
  es.mapped = false;
  es.has_exit_info = false;
  es.scratch.clear();
  es.scratch_sync = false;
  es.progress = 0;
  es.pending = 0;
  // [L] sev_es_unmap_ghcb: any AP reset hold indication ends with the mapping.
  es.hold = ApResetHoldType::kNone;
}

ExitOutcome ghcb_finish(ExitContext& ctx, ExitOutcome o) {
  o.ghcb = true;
  if (ctx.vcpu.completion.kind == Completion::Kind::kNone) ghcb_unmap(ctx);
  return o;
}

ExitOutcome sev_terminate(ExitContext& ctx, std::string message) {
  KvmRun& run = ctx.vcpu.run;
  begin_run(run, KvmExitReason::kSystemEvent, std::move(message));
  run.system_event.type = kKvmSystemEventSevTerm;
  run.system_event.ndata = 1;
  run.system_event.data = {};
  run.system_event.data[0] = ctx.vmcb.control.ghcb_gpa;
  return to_vmm(ExitPath::kGhcbTerminate);
}

}  // namespace snpemu::hv::internal

namespace snpemu::hv {

uint64_t sev_info_msr_value(const SevOptions& sev) {
  return ghcb::encode_msr_response(
      ghcb::SevInfoResponse{.max_protocol = sev.ghcb_max, .min_protocol = sev.ghcb_min,
                            .c_bit = sev.c_bit});
}

void sev_deliver_sipi(VcpuState& vcpu, svm::Vmcb& vmcb) {
  SevEsVcpu& es = vcpu.sev_es;
  // [L] sev.c sev_vcpu_deliver_sipi_vector: the first SIPI uses the VMM's initial state.
  if (!es.received_first_sipi) {
    es.received_first_sipi = true;
    return;
  }
  switch (es.hold) {
    case ApResetHoldType::kNaeEvent:
      if (es.mapped) {  // svm_vmgexit_success(svm, 1)
        es.has_exit_info = true;
        es.sw_exit_info_1 = 0;
        es.sw_exit_info_2 = 1;
      }
      break;
    case ApResetHoldType::kMsrProtocol:
      vmcb.control.ghcb_gpa = ghcb::encode_msr_response(ghcb::ApResetHoldResponse{.result = 1});
      break;
    case ApResetHoldType::kNone:
      return;
  }
  es.mp_state = MpState::kRunnable;
}

}  // namespace snpemu::hv
