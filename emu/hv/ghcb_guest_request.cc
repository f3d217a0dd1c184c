// emu/hv/ghcb_guest_request.cc: the SNP guest request NAE events (GUEST_REQUEST 0x8000_0011,
// EXT_GUEST_REQUEST 0x8000_0012), PLATFORM-FACTS 2.3, 2.6 [L] KVM sev.c snp_handle_guest_req /
// snp_handle_ext_guest_req:
//   - not an SNP guest with a guest context: KVM_RUN -EINVAL;
//   - the 4 KiB request page is read from the guest's (shared) memory into the hypervisor's
//     bounce page, SNP_GUEST_REQUEST runs, the 4 KiB response is written back to the response
//     page; a failure to read or write guest memory, or a command that could not be issued
//     (not a firmware status), is KVM_RUN -EIO;
//   - the firmware's status goes to the guest in SW_EXITINFO2 bits 31:0 (VMM status 0), with
//     SW_EXITINFO1 = 0;
//   - EXT_GUEST_REQUEST with a MSG_REPORT_REQ (msg_type byte at request + 0x34 == 5) needs RAX
//     (data pages GPA, page aligned) and RBX (page count) valid, else malformed input (2, 5);
//     with a non-zero count the first 24 bytes of the data area are zeroed (an empty
//     certificate table: the VMM supplies no certificates in this model, as KVM's stub).
// validate_vmgexit has already checked that EXITINFO1 and EXITINFO2 are page aligned and differ.
#include <array>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

constexpr uint64_t kMsgTypeOffset = 0x34;  // PLATFORM-FACTS 8.7: header msg_type byte
constexpr uint8_t kMsgReportReq = 5;
constexpr size_t kEmptyCertTable = 24;  // GHCB spec "SNP Extended Guest Request" terminator

ExitOutcome kvm_run_error(ExitContext& ctx, KvmErrno e, std::string message) {
  begin_run(ctx.vcpu.run, KvmExitReason::kUnknown, std::move(message));
  ExitOutcome o = to_vmm(ExitPath::kGhcbGuestRequest);
  o.kvm_run_error = e;
  return o;
}

}  // namespace

ExitOutcome ghcb_guest_request(ExitContext& ctx, bool extended) {
  const uint64_t req_gpa = ctx.vmcb.control.exit_info_1;
  const uint64_t rsp_gpa = ctx.vmcb.control.exit_info_2;
  if (ctx.vm.vm->type() != VmType::kSnp || ctx.vm.guest_requests == nullptr) {
    return kvm_run_error(ctx, KvmErrno::kEinval, "guest request from a VM without an SNP guest context");
  }
  if (extended) {
    uint8_t msg_type = 0;
    if (!read_guest_phys(ctx.vm, req_gpa + kMsgTypeOffset, std::span(&msg_type, 1))) {
      return kvm_run_error(ctx, KvmErrno::kEio, "EXT_GUEST_REQUEST: request page " + hex(req_gpa) + " unreadable");
    }
    if (msg_type == kMsgReportReq) {
      const ghcb::GhcbSnapshot& g = ctx.vcpu.sev_es.snapshot;
      const uint64_t data_gpa = ctx.vcpu.gprs.r[kRax];
      const uint64_t data_pages = ctx.vcpu.gprs.r[kRbx];
      if (!g.is_valid(ghcb::GhcbField::kRax) || !g.is_valid(ghcb::GhcbField::kRbx) ||
          (data_gpa & kPageOffsetMask) != 0) {
        return ghcb_error(ctx, ghcb::malformed(ghcb::GhcbErrorCode::kInvalidInput,
                                               "EXT_GUEST_REQUEST: RAX/RBX not valid or data GPA not page aligned"));
      }
      if (data_pages != 0) {
        const std::array<uint8_t, kEmptyCertTable> zeros{};
        if (!write_guest_phys(ctx.vm, data_gpa, zeros)) {
          return kvm_run_error(ctx, KvmErrno::kEio, "EXT_GUEST_REQUEST: data pages at " + hex(data_gpa) + " unwritable");
        }
      }
    }
  }
  std::array<uint8_t, kPageSize> request{}, response{};
  if (!read_guest_phys(ctx.vm, req_gpa, request)) {
    return kvm_run_error(ctx, KvmErrno::kEio, "GUEST_REQUEST: request page " + hex(req_gpa) + " unreadable");
  }
  const GuestRequestChannel::Result r = ctx.vm.guest_requests->guest_request(request, response);
  if (!r.issued && r.fw_error == 0) {
    return kvm_run_error(ctx, KvmErrno::kEio, "SNP_GUEST_REQUEST could not be issued: " + r.message);
  }
  if (!write_guest_phys(ctx.vm, rsp_gpa, response)) {
    return kvm_run_error(ctx, KvmErrno::kEio, "GUEST_REQUEST: response page " + hex(rsp_gpa) + " unwritable");
  }
  ctx.vcpu.run.message = r.message;
  ghcb_set_exit_info(ctx, 0, r.fw_error);  // VMM status (bits 63:32) 0
  return resume(ExitPath::kGhcbGuestRequest);
}

}  // namespace snpemu::hv::internal
