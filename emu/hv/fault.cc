// emu/hv/fault.cc: KVM's NPF error code (synthetic bits) and the faultin decision.
#include "emu/hv/hv.h"

namespace snpemu::hv {

const char* private_fault_source_name(PrivateFaultSource s) {
  switch (s) {
    case PrivateFaultSource::kAttributes: return "attributes";
    case PrivateFaultSource::kHardwareEncBit: return "hardware-enc-bit";
  }
  return "?";
}

const char* fault_kind_name(FaultOutcome::Kind k) {
  switch (k) {
    case FaultOutcome::Kind::kMap: return "map";
    case FaultOutcome::Kind::kMemoryFaultExit: return "memory-fault-exit";
    case FaultOutcome::Kind::kEmulateMmio: return "emulate-mmio";
  }
  return "?";
}

// PLATFORM-FACTS 6 [L] arch/x86/kvm/svm/svm.c npf_interception (WARN once and clear synthetic
// bits; SNP: ENC -> PRIVATE_ACCESS) and arch/x86/kvm/mmu/mmu.c kvm_mmu_page_fault
// (SW-protected VMs: not RSVD and the GFN is private -> PRIVATE_ACCESS).
NpfErrorCode npf_error_code(uint64_t exit_info_1, PrivateFaultSource source,
                            bool gfn_attr_private) {
  NpfErrorCode out;
  out.had_synthetic_bits = (exit_info_1 & kPferrSyntheticMask) != 0;
  out.error_code = exit_info_1 & ~kPferrSyntheticMask;
  switch (source) {
    case PrivateFaultSource::kHardwareEncBit:
      if ((out.error_code & kPferrEnc) != 0) out.error_code |= kPferrPrivateAccess;
      break;
    case PrivateFaultSource::kAttributes:
      if ((out.error_code & kPferrRsvd) == 0 && gfn_attr_private) {
        out.error_code |= kPferrPrivateAccess;
      }
      break;
  }
  return out;
}

namespace {

// [L] arch/x86/kvm/mmu/mmu.c kvm_mmu_prepare_memory_fault_exit -> kvm_prepare_memory_fault_exit:
// gpa = gfn << 12, size = PAGE_SIZE, flags = PRIVATE iff the fault was private (the RWX flags
// exist only in posted patches, PLATFORM-FACTS 6).
FaultOutcome memory_fault_exit(const FaultRequest& fault, KvmErrno error, std::string why) {
  FaultOutcome out;
  out.kind = FaultOutcome::Kind::kMemoryFaultExit;
  out.memory_fault = KvmMemoryFault{
      .flags = fault.is_private ? kKvmMemoryExitFlagPrivate : 0,
      .gpa = fault.gpa.value & ~kPageOffsetMask,
      .size = kPageSize,
  };
  out.error = error;
  out.why = std::move(why);
  return out;
}

FaultOutcome mmio(FaultOutcome::MmioReason reason) {
  FaultOutcome out;
  out.kind = FaultOutcome::Kind::kEmulateMmio;
  out.mmio = reason;
  return out;
}

FaultOutcome map(Pfn pfn, bool private_backing, bool writable) {
  FaultOutcome out;
  out.kind = FaultOutcome::Kind::kMap;
  out.pfn = pfn;
  out.private_backing = private_backing;
  out.writable = writable;
  return out;
}

}  // namespace

// [L] mmu.c kvm_mmu_faultin_pfn: the private/shared mismatch check comes first (against the
// attributes alone, slot or not), then the no-slot case (kvm_handle_noslot_fault: a private
// access exits, a shared one is MMIO), then the private or shared backing. The order is that of
// the merged patch "KVM: x86/mmu: Handle no-slot faults at the beginning of kvm_faultin_pfn()".
FaultOutcome Vm::faultin(const FaultRequest& fault) {
  const Gfn gfn = gfn_of(fault.gpa);
  if (fault.is_private != mem_is_private(gfn)) {
    return memory_fault_exit(fault, KvmErrno::kEfault,
                             fault.is_private ? "private access to a shared GFN"
                                              : "shared access to a private GFN");
  }
  const Memslot* slot = memslots_.find(gfn);
  if (slot == nullptr) {
    if (fault.is_private) {
      return memory_fault_exit(fault, KvmErrno::kEfault,
                               "private access with no memslot (kvm_handle_noslot_fault)");
    }
    return mmio(FaultOutcome::MmioReason::kNoSlot);
  }
  return fault.is_private ? faultin_private(*slot, fault) : faultin_shared(*slot, fault);
}

// [L] mmu.c kvm_mmu_faultin_pfn_private, guest_memfd.c kvm_gmem_get_pfn: a slot without
// guest_memfd cannot back a private access; the page is allocated (zeroed) on first use and
// prepared; a prepare failure exits with the error (the page stays allocated).
// Choice: upstream as read calls kvm_arch_gmem_prepare on every kvm_gmem_get_pfn and relies on
// the arch hook being idempotent (sev_gmem_prepare leaves an assigned PFN alone); the model
// calls it once per backing page (again only after a failure), which has the same outcome.
FaultOutcome Vm::faultin_private(const Memslot& slot, const FaultRequest& fault) {
  const Gfn gfn = gfn_of(fault.gpa);
  if (!slot.gmem) {
    return memory_fault_exit(fault, KvmErrno::kEfault,
                             "private access to slot " + std::to_string(slot.id) +
                                 " without guest_memfd (kvm_mmu_faultin_pfn_private)");
  }
  auto page = gmem_get_prepared(slot, gfn);
  if (!page) return memory_fault_exit(fault, page.error().code, page.error().message);
  FaultOutcome out = map(page->pfn, /*private_backing=*/true, /*writable=*/true);
  out.prepared_now = page->prepared_now;
  return out;
}

KvmResult<Vm::PreparedPage> Vm::gmem_get_prepared(const Memslot& slot, Gfn gfn) {
  GuestMemfd& gmem = *gmems_[slot.gmem->guest_memfd - 1];
  const uint64_t index = slot.gmem_index_of(gfn);
  if (gmem.binding(index) != slot.id) {
    return std::unexpected(
        KvmError{KvmErrno::kEio, "guest_memfd index not bound to this slot (__kvm_gmem_get_pfn)"});
  }
  auto it = gmem.pages_.find(index);
  if (it == gmem.pages_.end()) {
    std::optional<Pfn> pfn = private_pool_.allocate();
    if (!pfn) {
      return std::unexpected(
          KvmError{KvmErrno::kEnomem, "guest_memfd pool exhausted (kvm_gmem_get_folio)"});
    }
    it = gmem.pages_.emplace(index, GuestMemfd::Page{*pfn, false}).first;
  }
  PreparedPage out{.pfn = it->second.pfn, .prepared_now = false};
  if (!it->second.prepared) {
    if (hooks_ != nullptr) {
      if (auto ok = hooks_->gmem_prepare(gfn, it->second.pfn, 0); !ok) {
        return std::unexpected(
            KvmError{ok.error().code, "gmem prepare failed: " + ok.error().message});
      }
    }
    it->second.prepared = true;
    out.prepared_now = true;
  }
  return out;
}

// [L] mmu.c __kvm_mmu_faultin_pfn (shared: the page behind the slot's userspace address) and
// kvm_handle_error_pfn (a write to a read-only slot is emulated as MMIO; no page -> exit).
FaultOutcome Vm::faultin_shared(const Memslot& slot, const FaultRequest& fault) {
  const bool readonly = (slot.flags & kKvmMemReadonly) != 0;
  if (readonly && fault.write) return mmio(FaultOutcome::MmioReason::kReadonlyWrite);
  auto pfn = shared_page(slot.hva_of(gfn_of(fault.gpa)));
  if (!pfn) {
    return memory_fault_exit(fault, KvmErrno::kEfault, "no shared page: " + pfn.error().message);
  }
  return map(*pfn, /*private_backing=*/false, /*writable=*/!readonly);
}

// PLATFORM-FACTS 6, SVM #NPF order: clear synthetic bits (warn once), derive PRIVATE_ACCESS,
// then the MMU. A RSVD fault is KVM's MMIO-SPTE path (handle_mmio_page_fault).
NpfResult Vm::handle_npf(uint64_t exit_info_1, Gpa gpa, PrivateFaultSource source) {
  NpfResult r;
  r.error_code = npf_error_code(exit_info_1, source, mem_is_private(gfn_of(gpa)));
  if (r.error_code.had_synthetic_bits) r.warned_now = synthetic_warning_.fire();
  const uint64_t ec = r.error_code.error_code;
  if ((ec & kPferrRsvd) != 0) {
    r.outcome = mmio(FaultOutcome::MmioReason::kReservedBit);
    return r;
  }
  r.outcome = faultin(FaultRequest{.gpa = gpa,
                                   .is_private = (ec & kPferrPrivateAccess) != 0,
                                   .write = (ec & kPferrWrite) != 0,
                                   .exec = (ec & kPferrFetch) != 0});
  return r;
}

}  // namespace snpemu::hv
