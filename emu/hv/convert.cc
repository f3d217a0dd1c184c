// emu/hv/convert.cc: private <-> shared conversion of a GPA range (see convert.h), and
// Vm::gmem_prepare_gfn, the eager RMP preparation it uses.
#include "emu/hv/convert.h"

#include <algorithm>

#include "base/hex.h"
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

ConvertResult failed(ConvertStatus status, std::string message) {
  ConvertResult r;
  r.status = status;
  r.ret = kConvertErrorRet;
  r.message = std::move(message);
  return r;
}

}  // namespace

const char* psc_handling_name(PscHandling h) {
  switch (h) {
    case PscHandling::kVmm: return "vmm";
    case PscHandling::kInKernel: return "in-kernel";
  }
  return "?";
}

std::optional<PscHandling> parse_psc_handling(std::string_view name) {
  for (PscHandling h : {PscHandling::kVmm, PscHandling::kInKernel}) {
    if (name == psc_handling_name(h)) return h;
  }
  return std::nullopt;
}

const char* rmp_update_timing_name(RmpUpdateTiming t) {
  switch (t) {
    case RmpUpdateTiming::kLazy: return "lazy";
    case RmpUpdateTiming::kEager: return "eager";
  }
  return "?";
}

std::optional<RmpUpdateTiming> parse_rmp_update_timing(std::string_view name) {
  for (RmpUpdateTiming t : {RmpUpdateTiming::kLazy, RmpUpdateTiming::kEager}) {
    if (name == rmp_update_timing_name(t)) return t;
  }
  return std::nullopt;
}

const char* convert_status_name(ConvertStatus s) {
  switch (s) {
    case ConvertStatus::kOk: return "ok";
    case ConvertStatus::kNotMapGpaRange: return "not-map-gpa-range";
    case ConvertStatus::kUnaligned: return "unaligned";
    case ConvertStatus::kZeroPages: return "zero-pages";
    case ConvertStatus::kWrap: return "wrap";
    case ConvertStatus::kBadAttributes: return "bad-attributes";
    case ConvertStatus::kOutsideMemslots: return "outside-memslots";
    case ConvertStatus::kNoGuestMemfd: return "no-guest-memfd";
    case ConvertStatus::kSetAttributesFailed: return "set-attributes-failed";
    case ConvertStatus::kPrepareFailed: return "prepare-failed";
  }
  return "?";
}

// [L] guest_memfd.c kvm_gmem_get_pfn (allocation + kvm_arch_gmem_prepare), without a fault.
KvmResult<bool> Vm::gmem_prepare_gfn(Gfn gfn) {
  const Memslot* slot = memslots_.find(gfn);
  if (slot == nullptr || !slot->gmem) {
    return std::unexpected(KvmError{KvmErrno::kEinval, "gfn " + hex(gfn.value) +
                                                           " is not in a guest_memfd slot"});
  }
  if (!mem_is_private(gfn)) {
    return std::unexpected(KvmError{KvmErrno::kEinval, "gfn " + hex(gfn.value) + " is not private"});
  }
  auto page = gmem_get_prepared(*slot, gfn);
  if (!page) return std::unexpected(page.error());
  return page->prepared_now;
}

ConvertResult convert_memory(Vm& vm, uint64_t gpa, uint64_t size, bool to_private,
                             RmpUpdateTiming timing) {
  if ((gpa & kPageOffsetMask) != 0 || (size & kPageOffsetMask) != 0) {
    return failed(ConvertStatus::kUnaligned,
                  "gpa " + hex(gpa) + " or size " + hex(size) + " not page aligned");
  }
  if (size == 0) return failed(ConvertStatus::kZeroPages, "size is 0");
  if (gpa + size < gpa) return failed(ConvertStatus::kWrap, "gpa " + hex(gpa) + " + size wraps");
  const Gfn start{gpa >> kPageShift}, end{(gpa + size) >> kPageShift};

  // The whole range must be guest RAM (memslots without holes); private needs guest_memfd.
  const std::vector<const Memslot*> slots = vm.memslots().in_range(start, end);
  uint64_t covered_to = start.value;
  for (const Memslot* s : slots) {
    if (s->base_gfn.value > covered_to) break;
    covered_to = std::max(covered_to, s->end_gfn().value);
    if (to_private && !s->gmem) {
      return failed(ConvertStatus::kNoGuestMemfd,
                    "slot " + std::to_string(s->id) + " has no guest_memfd for a private range");
    }
  }
  if (covered_to < end.value) {
    return failed(ConvertStatus::kOutsideMemslots,
                  "gpa " + hex(covered_to << kPageShift) + " of the range is in no memslot");
  }

  auto set = vm.set_memory_attributes(
      KvmMemoryAttributes{.address = gpa,
                          .size = size,
                          .attributes = to_private ? kKvmMemoryAttributePrivate : 0,
                          .flags = 0});
  if (!set) return failed(ConvertStatus::kSetAttributesFailed, set.error().describe());

  ConvertResult r;
  r.attributes_changed = *set;
  for (const Memslot* s : slots) {
    const uint64_t lo = std::max(start.value, s->base_gfn.value);
    const uint64_t hi = std::min(end.value, s->end_gfn().value);
    const uint64_t bytes = (hi - lo) << kPageShift;
    if (to_private) {
      r.shared_pages_discarded += vm.discard_shared(s->hva_of(Gfn{lo}), bytes);
    } else if (s->gmem) {
      auto freed =
          vm.gmem_punch_hole(s->gmem->guest_memfd, s->gmem_index_of(Gfn{lo}) << kPageShift, bytes);
      if (!freed) return failed(ConvertStatus::kSetAttributesFailed, freed.error().describe());
      r.private_pages_discarded += *freed;
    }
  }
  if (to_private && timing == RmpUpdateTiming::kEager) {
    for (uint64_t g = start.value; g < end.value; ++g) {
      auto prepared = vm.gmem_prepare_gfn(Gfn{g});
      if (!prepared) {
        ConvertResult f = failed(ConvertStatus::kPrepareFailed,
                                 "eager prepare of gpa " + hex(g << kPageShift) + ": " +
                                     prepared.error().describe());
        f.attributes_changed = r.attributes_changed;
        f.shared_pages_discarded = r.shared_pages_discarded;
        f.pages_prepared = r.pages_prepared;
        return f;
      }
      if (*prepared) ++r.pages_prepared;
    }
  }
  return r;
}

// Argument rules: [L] arch/x86/kvm/x86.c __kvm_emulate_hypercall (gpa aligned, npages != 0, no
// GFN wrap) and uapi kvm_para.h KVM_MAP_GPA_RANGE_* (the attribute fields).
ConvertResult map_gpa_range(Vm& vm, uint64_t gpa, uint64_t npages, uint64_t attrs,
                            RmpUpdateTiming timing) {
  const uint64_t page_size = attrs & kKvmMapGpaRangePageSzMask;
  const uint64_t enc = attrs & kKvmMapGpaRangeEncStatMask;
  if ((gpa & kPageOffsetMask) != 0) {
    return failed(ConvertStatus::kUnaligned, "gpa " + hex(gpa) + " not page aligned");
  }
  if (npages == 0) return failed(ConvertStatus::kZeroPages, "npages is 0");
  if ((gpa >> kPageShift) + npages <= (gpa >> kPageShift) ||
      npages > (UINT64_MAX >> kPageShift) || gpa + (npages << kPageShift) < gpa) {
    return failed(ConvertStatus::kWrap,
                  "gpa " + hex(gpa) + " + " + std::to_string(npages) + " pages wraps");
  }
  if ((attrs & ~(kKvmMapGpaRangePageSzMask | kKvmMapGpaRangeEncStatMask)) != 0 ||
      (page_size != kKvmMapGpaRangePageSz4K && page_size != kKvmMapGpaRangePageSz2M &&
       page_size != kKvmMapGpaRangePageSz1G) ||
      (enc != kKvmMapGpaRangeEncrypted && enc != kKvmMapGpaRangeDecrypted)) {
    return failed(ConvertStatus::kBadAttributes, "attrs " + hex(attrs));
  }
  return convert_memory(vm, gpa, npages << kPageShift, enc == kKvmMapGpaRangeEncrypted, timing);
}

}  // namespace snpemu::hv
