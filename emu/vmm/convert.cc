// emu/vmm/convert.cc: the VMM's private <-> shared conversion and the exits that request it.
#include <algorithm>

#include "base/hex.h"
#include "emu/vmm/vmm.h"

namespace snpemu::vmm {
namespace {

constexpr uint64_t kEinvalRet = ~uint64_t{22} + 1;  // -EINVAL

ConvertResult failed(ConvertStatus status, std::string message) {
  ConvertResult r;
  r.status = status;
  r.ret = kEinvalRet;
  r.message = std::move(message);
  return r;
}

}  // namespace

const char* convert_status_name(ConvertStatus s) {
  switch (s) {
    case ConvertStatus::kOk:
      return "ok";
    case ConvertStatus::kNotMapGpaRange:
      return "not-map-gpa-range";
    case ConvertStatus::kUnaligned:
      return "unaligned";
    case ConvertStatus::kZeroPages:
      return "zero-pages";
    case ConvertStatus::kWrap:
      return "wrap";
    case ConvertStatus::kBadAttributes:
      return "bad-attributes";
    case ConvertStatus::kOutsideMemslots:
      return "outside-memslots";
    case ConvertStatus::kNoGuestMemfd:
      return "no-guest-memfd";
    case ConvertStatus::kSetAttributesFailed:
      return "set-attributes-failed";
  }
  return "?";
}

ConvertResult convert_memory(hv::Vm& vm, uint64_t gpa, uint64_t size, bool to_private) {
  if ((gpa & kPageOffsetMask) != 0 || (size & kPageOffsetMask) != 0) {
    return failed(ConvertStatus::kUnaligned,
                  "gpa " + hex(gpa) + " or size " + hex(size) + " not page aligned");
  }
  if (size == 0) return failed(ConvertStatus::kZeroPages, "size is 0");
  if (gpa + size < gpa) return failed(ConvertStatus::kWrap, "gpa " + hex(gpa) + " + size wraps");
  const Gfn start{gpa >> kPageShift}, end{(gpa + size) >> kPageShift};

  // The whole range must be guest RAM (memslots without holes); private needs guest_memfd.
  const std::vector<const hv::Memslot*> slots = vm.memslots().in_range(start, end);
  uint64_t covered_to = start.value;
  for (const hv::Memslot* s : slots) {
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
      hv::KvmMemoryAttributes{.address = gpa,
                              .size = size,
                              .attributes = to_private ? hv::kKvmMemoryAttributePrivate : 0,
                              .flags = 0});
  if (!set) return failed(ConvertStatus::kSetAttributesFailed, set.error().describe());

  ConvertResult r;
  r.attributes_changed = *set;
  for (const hv::Memslot* s : slots) {
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
  return r;
}

// Argument rules: [L] arch/x86/kvm/x86.c __kvm_emulate_hypercall (gpa aligned, npages != 0, no
// GFN wrap) and uapi kvm_para.h KVM_MAP_GPA_RANGE_* (the attribute fields).
ConvertResult handle_map_gpa_range(hv::Vm& vm, KvmRunHypercall& run) {
  ConvertResult r;
  const uint64_t gpa = run.args[0], npages = run.args[1], attrs = run.args[2];
  const uint64_t page_size = attrs & hv::kKvmMapGpaRangePageSzMask;
  const uint64_t enc = attrs & hv::kKvmMapGpaRangeEncStatMask;
  if (run.nr != hv::kKvmHcMapGpaRange) {
    r = failed(ConvertStatus::kNotMapGpaRange, "hypercall nr " + std::to_string(run.nr));
  } else if ((gpa & kPageOffsetMask) != 0) {
    r = failed(ConvertStatus::kUnaligned, "gpa " + hex(gpa) + " not page aligned");
  } else if (npages == 0) {
    r = failed(ConvertStatus::kZeroPages, "npages is 0");
  } else if ((gpa >> kPageShift) + npages <= (gpa >> kPageShift) ||
             npages > (UINT64_MAX >> kPageShift) || gpa + (npages << kPageShift) < gpa) {
    r = failed(ConvertStatus::kWrap,
               "gpa " + hex(gpa) + " + " + std::to_string(npages) + " pages wraps");
  } else if ((attrs & ~(hv::kKvmMapGpaRangePageSzMask | hv::kKvmMapGpaRangeEncStatMask)) != 0 ||
             (page_size != hv::kKvmMapGpaRangePageSz4K &&
              page_size != hv::kKvmMapGpaRangePageSz2M &&
              page_size != hv::kKvmMapGpaRangePageSz1G) ||
             (enc != hv::kKvmMapGpaRangeEncrypted && enc != hv::kKvmMapGpaRangeDecrypted)) {
    r = failed(ConvertStatus::kBadAttributes, "attrs " + hex(attrs));
  } else {
    r = convert_memory(vm, gpa, npages << kPageShift, enc == hv::kKvmMapGpaRangeEncrypted);
  }
  run.ret = r.ret;
  return r;
}

ConvertResult handle_memory_fault(hv::Vm& vm, const hv::KvmMemoryFault& fault) {
  return convert_memory(vm, fault.gpa, fault.size,
                        (fault.flags & hv::kKvmMemoryExitFlagPrivate) != 0);
}

}  // namespace snpemu::vmm
