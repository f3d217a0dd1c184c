// emu/hv/invariants.cc: Vm::check_invariants, the bookkeeping a fuzzer checks after each request.
#include <set>

#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

std::unexpected<KvmError> broken(std::string what) {
  return std::unexpected(KvmError{KvmErrno::kEio, "invariant: " + std::move(what)});
}

}  // namespace

KvmResult<void> Vm::check_invariants() const {
  std::set<uint64_t> seen;
  for (const auto& [hva, pfn] : shared_pages_) {
    if ((hva & kPageOffsetMask) != 0) return broken("shared page key not page aligned");
    if (!shared_pool_.allocated(pfn)) {
      return broken("shared page pfn " + std::to_string(pfn.value) + " not allocated in pool");
    }
    if (!seen.insert(pfn.value).second) {
      return broken("shared pfn " + std::to_string(pfn.value) + " owned twice");
    }
  }
  if (seen.size() != shared_pool_.in_use()) {
    return broken("shared pool has " + std::to_string(shared_pool_.in_use()) +
                  " pages in use but " + std::to_string(seen.size()) + " are owned (lost pages)");
  }

  seen.clear();
  for (size_t i = 0; i < gmems_.size(); ++i) {
    const GuestMemfd& g = *gmems_[i];
    for (const auto& [index, page] : g.pages_) {
      if (index >= (g.size() >> kPageShift)) return broken("gmem page beyond the file size");
      if (!private_pool_.allocated(page.pfn)) {
        return broken("gmem pfn " + std::to_string(page.pfn.value) + " not allocated in pool");
      }
      if (!seen.insert(page.pfn.value).second) {
        return broken("private pfn " + std::to_string(page.pfn.value) + " owned twice");
      }
    }
    uint64_t prev_end = 0;
    for (const auto& [start, b] : g.bindings_) {
      if (start < prev_end || b.end <= start) return broken("gmem bindings overlap or empty");
      prev_end = b.end;
      const Memslot* slot = memslots_.by_id(b.slot_id);
      if (slot == nullptr || !slot->gmem || slot->gmem->guest_memfd != i + 1 ||
          slot->gmem->pgoff != start || slot->npages != b.end - start) {
        return broken("gmem binding at index " + std::to_string(start) +
                      " does not match slot " + std::to_string(b.slot_id));
      }
    }
  }
  if (seen.size() != private_pool_.in_use()) {
    return broken("private pool has " + std::to_string(private_pool_.in_use()) +
                  " pages in use but " + std::to_string(seen.size()) + " are owned (lost pages)");
  }
  for (const Memslot* slot : memslots_.all()) {
    if (slot->gmem && gmems_[slot->gmem->guest_memfd - 1]->binding(slot->gmem->pgoff) != slot->id) {
      return broken("slot " + std::to_string(slot->id) + " gmem binding missing");
    }
  }

  const uint64_t supported = supported_memory_attributes(type_);
  uint64_t prev_end = 0;
  uint64_t prev_attrs = 0;
  bool first = true;
  for (const AttributeRun& run : attributes_.runs()) {
    if (run.range.start.value >= run.range.end.value) return broken("empty attribute run");
    if (run.attributes == 0 || (run.attributes & ~supported) != 0) {
      return broken("attribute run with attributes " + std::to_string(run.attributes));
    }
    if (!first && (run.range.start.value < prev_end ||
                   (run.range.start.value == prev_end && run.attributes == prev_attrs))) {
      return broken("attribute runs overlap or are not coalesced at gfn " +
                    std::to_string(run.range.start.value));
    }
    first = false;
    prev_end = run.range.end.value;
    prev_attrs = run.attributes;
  }
  return {};
}

}  // namespace snpemu::hv
