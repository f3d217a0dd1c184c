// emu/kvm/gmem_hooks.cc: the RMP side of guest_memfd for SNP VMs (see snp_internal.h). Sources:
// PLATFORM-FACTS 4.3 (RMPUPDATE), 4.4 (PSMASH), 4.9 [L] KVM sev.c (sev_gmem_prepare,
// sev_gmem_invalidate, rmp_make_private / rmp_make_shared / rmp_mark_pages_firmware in
// arch/x86/virt/svm/sev.c).
#include "base/hex.h"
#include "emu/kvm/snp_internal.h"

namespace snpemu::kvm {

hv::KvmResult<void> SnpGmemHooks::update(Pfn pfn, const rmp::RmpStateView& state, const char* what) {
  cpu::Core* core = vm_.host_core();
  if (core == nullptr) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEbusy, std::string(what) + " of pfn " + hex(pfn.value) +
                                                                ": every core is inside a guest"});
  }
  auto r = core->rmpupdate(pfn.value << kPageShift, state);
  if (!r) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEio, std::string(what) + ": RMPUPDATE of hpa " +
                                                              hex(pfn.value << kPageShift) + " faulted"});
  }
  if (r->rc != rmp::RmpRc::kSuccess) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEio, std::string(what) + ": RMPUPDATE of hpa " +
                                                              hex(pfn.value << kPageShift) + " returned " +
                                                              rmp::rc_name(r->rc)});
  }
  return {};
}

hv::KvmResult<void> SnpGmemHooks::make_private(Pfn pfn, Gpa gpa, bool immutable) {
  rmp::RmpStateView s;
  s.assigned = 1;
  s.immutable = immutable ? 1 : 0;
  s.asid = asid_.value;
  s.gpa = gpa.value;
  return update(pfn, s, "rmp_make_private");
}

hv::KvmResult<void> SnpGmemHooks::make_firmware(Pfn pfn) {
  rmp::RmpStateView s;
  s.assigned = 1;
  s.immutable = 1;
  return update(pfn, s, "rmp_mark_pages_firmware");
}

hv::KvmResult<void> SnpGmemHooks::make_shared(Pfn pfn) {
  if (rmp_.entry(pfn).page_size == rmp::PageSize::k2M) {
    cpu::Core* core = vm_.host_core();
    const uint64_t base = (pfn.value & ~uint64_t{511}) << kPageShift;
    if (core == nullptr) {
      return std::unexpected(hv::KvmError{hv::KvmErrno::kEbusy, "PSMASH of hpa " + hex(base) + ": every core is inside a guest"});
    }
    auto r = core->psmash(base);
    if (!r || r->rc != rmp::RmpRc::kSuccess) {
      return std::unexpected(hv::KvmError{
          hv::KvmErrno::kEio, "rmp_make_shared: PSMASH of hpa " + hex(base) +
                                  (r ? std::string(" returned ") + rmp::rc_name(r->rc, true) : std::string(" faulted"))});
    }
  }
  return update(pfn, rmp::RmpStateView{}, "rmp_make_shared");
}

hv::KvmResult<void> SnpGmemHooks::gmem_prepare(Gfn gfn, Pfn pfn, unsigned order) {
  // Already assigned (e.g. populated at launch): nothing to do. Upstream guest_memfd allocates
  // order-0 folios only, so the 2 MiB branch of sev_gmem_prepare never runs; neither does it here.
  if (rmp_.entry(pfn).assigned) return {};
  if (order != 0) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEinval, "gmem_prepare of order " + std::to_string(order) +
                                                                 " (only 4 KiB folios are modelled)"});
  }
  return make_private(pfn, Gpa{gfn.value << kPageShift}, /*immutable=*/false);
}

void SnpGmemHooks::gmem_invalidate(Pfn start, Pfn end) {
  for (uint64_t p = start.value; p < end.value; ++p) {
    if (!rmp_.entry(Pfn{p}).assigned) continue;
    // KVM: "failed to remove pfn from RMP" -> the page is leaked, never handed out again.
    if (!make_shared(Pfn{p})) leaked_.push_back(Pfn{p});
  }
}

}  // namespace snpemu::kvm
