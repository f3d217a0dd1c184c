// emu/hv/memory_attributes.cc: KVM_SET_MEMORY_ATTRIBUTES checks and the per-GFN attribute store.
#include <iterator>

#include "base/hex.h"
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

KvmError einval(std::string what) {
  return KvmError{KvmErrno::kEinval, std::move(what) + " (kvm_vm_ioctl_set_mem_attributes)"};
}

}  // namespace

// [L] virt/kvm/kvm_main.c kvm_vm_ioctl_set_mem_attributes: the checks, in this order, all EINVAL.
KvmResult<GfnRange> check_memory_attributes(const KvmMemoryAttributes& args, uint64_t supported) {
  if (args.flags != 0) return std::unexpected(einval("flags " + hex(args.flags) + " must be 0"));
  if ((args.attributes & ~supported) != 0) {
    return std::unexpected(einval("attributes " + hex(args.attributes) +
                                  " outside the supported set " + hex(supported)));
  }
  if (args.size == 0) return std::unexpected(einval("size is 0"));
  if (args.address + args.size < args.address) {
    return std::unexpected(
        einval("address " + hex(args.address) + " + size " + hex(args.size) + " wraps"));
  }
  if ((args.address & kPageOffsetMask) != 0 || (args.size & kPageOffsetMask) != 0) {
    return std::unexpected(einval("address " + hex(args.address) + " or size " + hex(args.size) +
                                  " not page aligned"));
  }
  return GfnRange{Gfn{args.address >> kPageShift}, Gfn{(args.address + args.size) >> kPageShift}};
}

uint64_t MemoryAttributes::get(Gfn gfn) const {
  auto it = runs_.upper_bound(gfn.value);
  if (it == runs_.begin()) return 0;
  --it;
  return gfn.value < it->second.end ? it->second.attributes : 0;
}

// [L] kvm_main.c kvm_range_has_memory_attributes: mask reduced to the supported set; attrs with
// bits outside the mask never match; every GFN must match (absent GFNs have attributes 0).
bool MemoryAttributes::range_has(Gfn start, Gfn end, uint64_t mask, uint64_t attrs) const {
  mask &= supported_;
  if ((attrs & ~mask) != 0) return false;
  uint64_t cur = start.value;
  auto it = runs_.upper_bound(cur);
  if (it != runs_.begin() && std::prev(it)->second.end > cur) --it;
  while (cur < end.value) {
    if (it == runs_.end() || it->first > cur) {  // a gap: attributes 0 up to the next run
      if (attrs != 0) return false;
      cur = it == runs_.end() ? end.value : it->first;
      continue;
    }
    if ((it->second.attributes & mask) != attrs) return false;
    cur = it->second.end;
    ++it;
  }
  return true;
}

// [L] kvm_main.c kvm_vm_set_mem_attributes: a range that already has the attributes is a no-op;
// otherwise every GFN changes together. Here all checks precede the first mutation, and the
// mutation is a few map operations (split the boundary runs, erase, insert, coalesce).
bool MemoryAttributes::set(GfnRange range, uint64_t attributes) {
  const uint64_t start = range.start.value, end = range.end.value;
  if (start >= end || range_has(range.start, range.end, ~uint64_t{0}, attributes)) return false;

  auto split_at = [this](uint64_t x) {
    auto it = runs_.upper_bound(x);
    if (it == runs_.begin()) return;
    --it;
    if (it->first < x && x < it->second.end) {
      const Run tail{it->second.end, it->second.attributes};
      it->second.end = x;
      runs_.emplace_hint(std::next(it), x, tail);
    }
  };
  split_at(start);
  split_at(end);
  runs_.erase(runs_.lower_bound(start), runs_.lower_bound(end));
  if (attributes == 0) return true;

  auto it = runs_.emplace(start, Run{end, attributes}).first;
  if (it != runs_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end == start && prev->second.attributes == attributes) {
      prev->second.end = it->second.end;
      runs_.erase(it);
      it = prev;
    }
  }
  auto next = std::next(it);
  if (next != runs_.end() && next->first == it->second.end &&
      next->second.attributes == attributes) {
    it->second.end = next->second.end;
    runs_.erase(next);
  }
  return true;
}

std::vector<AttributeRun> MemoryAttributes::runs() const {
  std::vector<AttributeRun> out;
  out.reserve(runs_.size());
  for (const auto& [start, run] : runs_) {
    out.push_back(AttributeRun{GfnRange{Gfn{start}, Gfn{run.end}}, run.attributes});
  }
  return out;
}

}  // namespace snpemu::hv
