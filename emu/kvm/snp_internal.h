// emu/kvm/snp_internal.h: package-private pieces of the SNP support in //emu/kvm (see kvm.h).
#pragma once

#include <cstdint>
#include <vector>

#include "emu/hv/hv.h"
#include "emu/kvm/kvm.h"

namespace snpemu::kvm {

/// The RMP side of an SNP VM's guest_memfd ([L] KVM sev.c sev_gmem_prepare / sev_gmem_invalidate,
/// PLATFORM-FACTS 4.9), executing RMPUPDATE / PSMASH on the core the VM says the hypervisor runs
/// on. Pages whose return to the hypervisor fails are leaked, as KVM does (never reused).
class SnpGmemHooks final : public hv::GmemArchHooks {
 public:
  SnpGmemHooks(VirtualMachine& vm, rmp::Rmp& rmp, Asid asid) : vm_(vm), rmp_(rmp), asid_(asid) {}
  hv::KvmResult<void> gmem_prepare(Gfn gfn, Pfn pfn, unsigned order) override;
  void gmem_invalidate(Pfn start, Pfn end) override;
  /// rmp_make_private(pfn, gpa, 4K, asid, immutable) on the hypervisor's core.
  hv::KvmResult<void> make_private(Pfn pfn, Gpa gpa, bool immutable);
  /// rmp_make_shared(pfn, 4K): PSMASH first if the page is inside a 2 MiB entry.
  hv::KvmResult<void> make_shared(Pfn pfn);
  /// rmp_mark_pages_firmware (assigned, ASID 0, immutable): a page the AMD-SP owns.
  hv::KvmResult<void> make_firmware(Pfn pfn);
  const std::vector<Pfn>& leaked() const { return leaked_; }

 private:
  hv::KvmResult<void> update(Pfn pfn, const rmp::RmpStateView& state, const char* what);
  VirtualMachine& vm_;
  rmp::Rmp& rmp_;
  Asid asid_;
  std::vector<Pfn> leaked_;
};

/// The AMD-SP channel of one SNP VM's guest requests ([L] KVM sev.c snp_guest_req_init /
/// snp_handle_guest_req): a request bounce page the hypervisor owns and a response page made
/// firmware-owned in the RMP; SNP_GUEST_REQUEST is issued on the core of the vCPU being served.
class SnpGuestRequests final : public hv::GuestRequestChannel {
 public:
  SnpGuestRequests(VirtualMachine& vm, Hpa request_page, Hpa response_page)
      : vm_(vm), request_(request_page), response_(response_page) {}
  Result guest_request(std::span<const uint8_t> request, std::span<uint8_t> response) override;
  Hpa request_page() const { return request_; }
  Hpa response_page() const { return response_; }

 private:
  VirtualMachine& vm_;
  Hpa request_, response_;
};

}  // namespace snpemu::kvm
