// emu/kvm/guest_request.cc: SNP guest requests through the AMD-SP (see snp_internal.h). Sources:
// [L] KVM sev.c snp_guest_req_init (a bounce page for the request; the response buffer from
// snp_alloc_firmware_page), snp_handle_guest_req (copy in, SNP_GUEST_REQUEST with the guest
// context and both pages, firmware status to the guest, copy the response out);
// PLATFORM-FACTS 8.2 (command buffer: gctx, request SPA, response SPA).
#include "base/hex.h"
#include "emu/kvm/snp_internal.h"

namespace snpemu::kvm {

hv::KvmResult<void> VirtualMachine::snp_guest_req_init() {
  auto req = hv_pool_.allocate();
  auto rsp = hv_pool_.allocate();
  if (!req || !rsp) {
    if (req) (void)hv_pool_.free(*req);
    if (rsp) (void)hv_pool_.free(*rsp);
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEnomem, "hypervisor pool exhausted (guest request pages)"});
  }
  if (auto r = gmem_hooks_->make_firmware(*rsp); !r) {
    (void)hv_pool_.free(*req);
    (void)hv_pool_.free(*rsp);
    return r;
  }
  guest_requests_ = std::make_unique<SnpGuestRequests>(*this, Hpa{req->value << kPageShift}, Hpa{rsp->value << kPageShift});
  ctx_.guest_requests = guest_requests_.get();
  return {};
}

void VirtualMachine::snp_guest_req_free() {
  if (guest_requests_ == nullptr) return;
  ctx_.guest_requests = nullptr;
  const Pfn req{guest_requests_->request_page().value >> kPageShift};
  const Hpa rsp = guest_requests_->response_page();
  guest_requests_.reset();
  (void)hv_pool_.free(req);
  // snp_free_firmware_page: SNP_PAGE_RECLAIM, then RMPUPDATE shared; a failure leaks the page.
  cpu::Core* core = host_core();
  if (core != nullptr && hyp_.psp()->command(fw::CommandId::kSnpPageReclaim, fw::serialize(fw::CmdPageAddr{rsp, false}), *core) &&
      gmem_hooks_->make_shared(Pfn{rsp.value >> kPageShift})) {
    (void)hv_pool_.free(Pfn{rsp.value >> kPageShift});
  }
}

hv::GuestRequestChannel::Result SnpGuestRequests::guest_request(std::span<const uint8_t> request,
                                                                 std::span<uint8_t> response) {
  Result out;
  Memory& mem = vm_.machine_.memory();
  cpu::Core* core = vm_.host_core();
  Psp* psp = vm_.hyp_.psp();
  if (request.size() != kPageSize || response.size() != kPageSize || core == nullptr || psp == nullptr) {
    out.message = "no page-sized buffers, core or AMD-SP";
    return out;
  }
  if (!mem.write(request_, request)) {
    out.message = "request bounce page " + hex(request_.value) + " outside RAM";
    return out;
  }
  fw::CmdGctxAddrs cmd;
  cmd.gctx_paddr = vm_.gctx_;
  cmd.first = request_;
  cmd.second = response_;
  auto r = psp->command(fw::CommandId::kSnpGuestRequest, fw::serialize(cmd, 3), *core);
  out.issued = true;
  out.fw_error = r ? 0 : static_cast<uint32_t>(psp->last_status());
  if (!r) out.message = r.error().message;
  (void)mem.read(response_, response);
  return out;
}

}  // namespace snpemu::kvm
