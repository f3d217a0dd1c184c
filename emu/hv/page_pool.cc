// emu/hv/page_pool.cc: host pages for one kind of guest backing, from a region of Memory.
#include <cstring>

#include "emu/hv/hv.h"

namespace snpemu::hv {

KvmResult<PagePool> PagePool::create(Memory& memory, Pfn first, uint64_t count, std::string name) {
  const uint64_t pages = memory.size() >> kPageShift;
  if (first.value > pages || count > pages - first.value) {
    return std::unexpected(KvmError{
        KvmErrno::kEinval, "pool '" + name + "' [pfn " + std::to_string(first.value) + ", +" +
                               std::to_string(count) + ") is outside RAM of " +
                               std::to_string(pages) + " pages"});
  }
  return PagePool(memory, first, count, std::move(name));
}

// Untouched pages already read as zero and stay unallocated in the sparse Memory.
void PagePool::zero(Pfn pfn) {
  if (memory_->page_pointer_if_present(pfn) != nullptr) {
    std::memset(memory_->page_pointer(pfn), 0, kPageSize);
  }
}

std::optional<Pfn> PagePool::allocate() {
  uint64_t offset;
  if (!free_.empty()) {
    offset = *free_.begin();
    free_.erase(free_.begin());
  } else if (next_ < count_) {
    offset = next_++;
  } else {
    return std::nullopt;
  }
  const Pfn pfn{first_.value + offset};
  zero(pfn);  // guest_memfd clears a folio that is not up to date (kvm_gmem_get_pfn)
  return pfn;
}

bool PagePool::allocated(Pfn pfn) const {
  if (!owns(pfn)) return false;
  const uint64_t offset = pfn.value - first_.value;
  return offset < next_ && !free_.contains(offset);
}

bool PagePool::free(Pfn pfn) {
  if (!allocated(pfn)) return false;
  zero(pfn);
  free_.insert(pfn.value - first_.value);
  return true;
}

}  // namespace snpemu::hv
