// emu/hv/vm.cc: the memory side of one KVM VM: memslots, attributes, guest_memfd, both pools.
#include <algorithm>
#include <iterator>

#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

// kvm_mmu_max_gfn(): the largest GFN the MMU can map. UNCONFIRMED: taken as a 52-bit guest
// physical address space (x86 architectural maximum); KVM derives it from MAXPHYADDR.
constexpr uint64_t kMaxGfn = (uint64_t{1} << (52 - kPageShift)) - 1;
constexpr uint64_t kMaxFileOffset = uint64_t{INT64_MAX};  // loff_t; s_maxbytes of guest_memfd

std::unexpected<KvmError> fail(KvmErrno code, std::string what) {
  return std::unexpected(KvmError{code, std::move(what)});
}

}  // namespace

Vm::Vm(VmType type, PagePool shared, PagePool priv, GmemArchHooks* hooks)
    : type_(type),
      features_(vm_features(type)),
      attributes_(supported_memory_attributes(type)),
      shared_pool_(std::move(shared)),
      private_pool_(std::move(priv)),
      hooks_(hooks) {}

KvmResult<std::unique_ptr<Vm>> Vm::create(Memory& memory, const VmConfig& config) {
  if (static_cast<uint8_t>(config.type) >= kVmTypeCount) {
    return fail(KvmErrno::kEinval, "unknown VM type " +
                                       std::to_string(static_cast<unsigned>(config.type)));
  }
  if (config.private_pool_pages != 0 && !vm_features(config.type).has_private_mem) {
    return fail(KvmErrno::kEinval, std::string("VM type ") + vm_type_name(config.type) +
                                       " has no private memory but was given a private pool");
  }
  const uint64_t s0 = config.shared_pool_first.value, p0 = config.private_pool_first.value;
  if (config.shared_pool_pages != 0 && config.private_pool_pages != 0 &&
      s0 < p0 + config.private_pool_pages && p0 < s0 + config.shared_pool_pages) {
    return fail(KvmErrno::kEinval, "shared and private pools overlap");
  }
  auto shared = PagePool::create(memory, config.shared_pool_first, config.shared_pool_pages,
                                 "shared");
  if (!shared) return std::unexpected(shared.error());
  auto priv = PagePool::create(memory, config.private_pool_first, config.private_pool_pages,
                               "guest_memfd");
  if (!priv) return std::unexpected(priv.error());
  return std::unique_ptr<Vm>(
      new Vm(config.type, std::move(*shared), std::move(*priv), config.hooks));
}

// [L] virt/kvm/guest_memfd.c kvm_gmem_create.
KvmResult<uint32_t> Vm::create_guest_memfd(const KvmCreateGuestMemfd& args) {
  if (args.flags != 0) {
    return fail(KvmErrno::kEinval, "guest_memfd flags " + std::to_string(args.flags) +
                                       " not supported (kvm_gmem_create)");
  }
  if (args.size == 0 || args.size > kMaxFileOffset || (args.size & kPageOffsetMask) != 0) {
    return fail(KvmErrno::kEinval, "guest_memfd size " + std::to_string(args.size) +
                                       " not positive and page aligned (kvm_gmem_create)");
  }
  gmems_.push_back(std::make_unique<GuestMemfd>(args.size, args.flags));
  return static_cast<uint32_t>(gmems_.size());
}

const GuestMemfd* Vm::guest_memfd(uint32_t fd) const {
  return fd == 0 || fd > gmems_.size() ? nullptr : gmems_[fd - 1].get();
}

// [L] guest_memfd.c kvm_gmem_bind: checks only; the caller commits after every other check.
KvmResult<void> Vm::gmem_bind(Memslot& slot, uint32_t fd, uint64_t offset) {
  const GuestMemfd* gmem = guest_memfd(fd);
  if (gmem == nullptr) {
    return fail(KvmErrno::kEbadf, "guest_memfd " + std::to_string(fd) +
                                      " is not a guest_memfd of this VM (kvm_gmem_bind)");
  }
  const uint64_t size = slot.npages << kPageShift;
  if (offset > kMaxFileOffset || size > gmem->size() || offset > gmem->size() - size) {
    return fail(KvmErrno::kEinval, "guest_memfd_offset " + std::to_string(offset) + " + " +
                                       std::to_string(size) + " exceeds the guest_memfd size " +
                                       std::to_string(gmem->size()) + " (kvm_gmem_bind)");
  }
  const uint64_t start = offset >> kPageShift, end = start + slot.npages;
  auto it = gmem->bindings_.upper_bound(start);
  if (it != gmem->bindings_.begin() && std::prev(it)->second.end > start) --it;
  if (it != gmem->bindings_.end() && it->first < end) {
    return fail(KvmErrno::kEinval, "guest_memfd pages [" + std::to_string(start) + ", " +
                                       std::to_string(end) + ") already bound to slot " +
                                       std::to_string(it->second.slot_id) + " (kvm_gmem_bind)");
  }
  slot.gmem = GmemBinding{fd, start};
  return {};
}

void Vm::gmem_unbind(const Memslot& slot) {
  if (!slot.gmem) return;
  gmems_[slot.gmem->guest_memfd - 1]->bindings_.erase(slot.gmem->pgoff);
}

// [L] virt/kvm/kvm_main.c kvm_set_memory_region (after check_memory_region).
KvmResult<MemslotChange> Vm::set_user_memory_region(const KvmUserspaceMemoryRegion2& mem) {
  if (auto ok = check_memory_region(mem, features_); !ok) return std::unexpected(ok.error());
  const uint16_t id = static_cast<uint16_t>(mem.slot);
  const Memslot* old = memslots_.by_id(id);

  if (mem.memory_size == 0) {
    if (old == nullptr) {
      return fail(KvmErrno::kEinval, "delete of slot " + std::to_string(id) +
                                         " that does not exist (kvm_set_memory_region)");
    }
    zap({GfnRange{old->base_gfn, old->end_gfn()}});
    gmem_unbind(*old);
    memslots_.remove(id);
    return MemslotChange::kDelete;
  }

  Memslot slot{.id = id,
               .flags = mem.flags,
               .base_gfn = Gfn{mem.guest_phys_addr >> kPageShift},
               .npages = mem.memory_size >> kPageShift,
               .userspace_addr = mem.userspace_addr,
               .gmem = std::nullopt};
  MemslotChange change = MemslotChange::kCreate;
  if (old != nullptr) {
    if ((mem.flags & kKvmMemGuestMemfd) != 0) {
      return fail(KvmErrno::kEinval, "guest_memfd slot " + std::to_string(id) +
                                         " is immutable, it can only be deleted "
                                         "(kvm_set_memory_region)");
    }
    // UNCONFIRMED: KVM tests only the new flags; dropping KVM_MEM_GUEST_MEMFD from an existing
    // slot is refused here too, since KVM's outcome (a stale gmem binding) is not modelled.
    if (old->gmem) {
      return fail(KvmErrno::kEinval, "slot " + std::to_string(id) +
                                         " is bound to a guest_memfd; delete it instead");
    }
    if (mem.userspace_addr != old->userspace_addr || slot.npages != old->npages ||
        ((mem.flags ^ old->flags) & kKvmMemReadonly) != 0) {
      return fail(KvmErrno::kEinval, "slot " + std::to_string(id) +
                                         ": userspace_addr, size or READONLY changed "
                                         "(kvm_set_memory_region)");
    }
    if (slot.base_gfn != old->base_gfn) {
      change = MemslotChange::kMove;
    } else if (mem.flags != old->flags) {
      change = MemslotChange::kFlagsOnly;
    } else {
      return MemslotChange::kNone;
    }
  }
  if ((change == MemslotChange::kCreate || change == MemslotChange::kMove) &&
      memslots_.overlaps(id, slot.base_gfn, slot.end_gfn())) {
    return fail(KvmErrno::kEexist, "slot " + std::to_string(id) + " GFNs [" +
                                       std::to_string(slot.base_gfn.value) + ", " +
                                       std::to_string(slot.end_gfn().value) +
                                       ") overlap another slot (kvm_check_memslot_overlap)");
  }
  if ((mem.flags & kKvmMemGuestMemfd) != 0) {
    if (auto ok = gmem_bind(slot, mem.guest_memfd, mem.guest_memfd_offset); !ok) {
      return std::unexpected(ok.error());
    }
  }
  // [L] arch/x86/kvm/x86.c kvm_arch_prepare_memory_region (create / move).
  if (slot.end_gfn().value - 1 > kMaxGfn) {
    return fail(KvmErrno::kEinval, "slot " + std::to_string(id) + " ends beyond the largest "
                                   "mappable GFN (kvm_arch_prepare_memory_region)");
  }
  if (slot.gmem) {
    gmems_[slot.gmem->guest_memfd - 1]->bindings_[slot.gmem->pgoff] =
        GuestMemfd::Binding{slot.gmem->pgoff + slot.npages, id};
  }
  if (change == MemslotChange::kMove) zap({GfnRange{old->base_gfn, old->end_gfn()}});
  memslots_.install(slot);
  return change;
}

// [L] kvm_main.c kvm_vm_ioctl_set_mem_attributes -> kvm_vm_set_mem_attributes: the mappings in
// the range are zapped only if something changes.
KvmResult<bool> Vm::set_memory_attributes(const KvmMemoryAttributes& args) {
  auto range = check_memory_attributes(args, supported_memory_attributes(type_));
  if (!range) return std::unexpected(range.error());
  const bool changed = attributes_.set(*range, args.attributes);
  if (changed) zap({*range});
  return changed;
}

// [L] guest_memfd.c kvm_gmem_fallocate / kvm_gmem_punch_hole / kvm_gmem_free_folio; the
// offset/len sign and size checks are vfs_fallocate's.
KvmResult<uint64_t> Vm::gmem_punch_hole(uint32_t fd, uint64_t offset, uint64_t len) {
  if (guest_memfd(fd) == nullptr) {
    return fail(KvmErrno::kEbadf, "guest_memfd " + std::to_string(fd) + " unknown (fallocate)");
  }
  if (len == 0 || offset > kMaxFileOffset || len > kMaxFileOffset) {
    return fail(KvmErrno::kEinval, "offset or len negative or len 0 (vfs_fallocate)");
  }
  if (offset + len > kMaxFileOffset) {
    return fail(KvmErrno::kEfbig, "offset + len beyond the largest file offset (vfs_fallocate)");
  }
  if ((offset & kPageOffsetMask) != 0 || (len & kPageOffsetMask) != 0) {
    return fail(KvmErrno::kEinval, "offset or len not page aligned (kvm_gmem_fallocate)");
  }
  GuestMemfd& gmem = *gmems_[fd - 1];
  const uint64_t start = offset >> kPageShift, end = (offset + len) >> kPageShift;
  auto b = gmem.bindings_.upper_bound(start);
  if (b != gmem.bindings_.begin() && std::prev(b)->second.end > start) --b;
  std::vector<GfnRange> bound;  // kvm_gmem_invalidate_begin: the GFNs of every bound slot
  for (; b != gmem.bindings_.end() && b->first < end; ++b) {
    const Memslot* slot = memslots_.by_id(b->second.slot_id);
    if (slot == nullptr) continue;
    const uint64_t lo = std::max(start, b->first), hi = std::min(end, b->second.end);
    bound.push_back(GfnRange{Gfn{slot->base_gfn.value + (lo - b->first)},
                             Gfn{slot->base_gfn.value + (hi - b->first)}});
  }
  if (!bound.empty()) zap(bound);

  uint64_t freed = 0;
  auto it = gmem.pages_.lower_bound(start);
  while (it != gmem.pages_.end() && it->first < end) {
    const Pfn pfn = it->second.pfn;
    if (hooks_ != nullptr) hooks_->gmem_invalidate(pfn, Pfn{pfn.value + 1});
    if (!private_pool_.free(pfn)) {
      return fail(KvmErrno::kEio, "guest_memfd page " + std::to_string(it->first) + " pfn " +
                                      std::to_string(pfn.value) + " not owned by the pool");
    }
    it = gmem.pages_.erase(it);
    ++freed;
  }
  return freed;
}

// [L] guest_memfd.c kvm_gmem_populate / __kvm_gmem_populate.
KvmResult<Pfn> Vm::gmem_populate(Gfn gfn,
                                 const std::function<KvmResult<void>(Gfn, Pfn)>& post_populate) {
  const Memslot* slot = memslots_.find(gfn);
  if (slot == nullptr || !slot->gmem) {
    return fail(KvmErrno::kEinval, "gfn " + std::to_string(gfn.value) +
                                       " is not in a guest_memfd slot (kvm_gmem_populate)");
  }
  GuestMemfd& gmem = *gmems_[slot->gmem->guest_memfd - 1];
  const uint64_t index = slot->gmem_index_of(gfn);
  auto it = gmem.pages_.find(index);
  if (it == gmem.pages_.end()) {
    std::optional<Pfn> pfn = private_pool_.allocate();
    if (!pfn) return fail(KvmErrno::kEnomem, "guest_memfd pool exhausted (kvm_gmem_populate)");
    it = gmem.pages_.emplace(index, GuestMemfd::Page{*pfn, false}).first;
  }
  if (!mem_is_private(gfn)) {
    return fail(KvmErrno::kEinval, "gfn " + std::to_string(gfn.value) +
                                       " is not private (__kvm_gmem_populate)");
  }
  if (auto ok = post_populate(gfn, it->second.pfn); !ok) return std::unexpected(ok.error());
  it->second.prepared = true;  // folio_mark_uptodate
  return it->second.pfn;
}

void Vm::zap(const std::vector<GfnRange>& ranges) {
  ++mmu_invalidate_seq_;
  if (notifier_ == nullptr) return;
  for (const GfnRange& r : ranges) notifier_->invalidate_gfn_range(r, mmu_invalidate_seq_);
}

KvmResult<Pfn> Vm::shared_page(uint64_t hva) {
  const uint64_t page = hva & ~kPageOffsetMask;
  if (auto it = shared_pages_.find(page); it != shared_pages_.end()) return it->second;
  std::optional<Pfn> pfn = shared_pool_.allocate();
  if (!pfn) {
    return fail(KvmErrno::kEnomem, "shared pool exhausted (" +
                                       std::to_string(shared_pool_.capacity()) + " pages)");
  }
  shared_pages_.emplace(page, *pfn);
  return *pfn;
}

std::optional<Pfn> Vm::shared_page_if_present(uint64_t hva) const {
  auto it = shared_pages_.find(hva & ~kPageOffsetMask);
  if (it == shared_pages_.end()) return std::nullopt;
  return it->second;
}

uint64_t Vm::discard_shared(uint64_t hva, uint64_t len) {
  const uint64_t first = hva & ~kPageOffsetMask;
  const uint64_t last = hva + len < hva ? UINT64_MAX : hva + len;  // exclusive, saturated
  uint64_t freed = 0;
  auto it = shared_pages_.lower_bound(first);
  while (it != shared_pages_.end() && it->first < last) {
    shared_pool_.free(it->second);
    it = shared_pages_.erase(it);
    ++freed;
  }
  if (freed != 0) {
    // The mmu notifier invalidates the GFNs of every slot whose VMM range overlaps.
    std::vector<GfnRange> ranges;
    for (const Memslot* slot : memslots_.all()) {
      const uint64_t s0 = slot->userspace_addr, s1 = s0 + (slot->npages << kPageShift);
      const uint64_t lo = std::max(first, s0), hi = std::min(last, s1);
      if (lo >= hi) continue;
      const uint64_t g0 = slot->base_gfn.value + ((lo - s0) >> kPageShift);
      const uint64_t g1 = slot->base_gfn.value + ((hi - s0 + kPageOffsetMask) >> kPageShift);
      ranges.push_back(GfnRange{Gfn{g0}, Gfn{g1}});
    }
    zap(ranges);
  }
  return freed;
}

std::optional<Pfn> Vm::shared_backing(Gfn gfn) const {
  const Memslot* slot = memslots_.find(gfn);
  if (slot == nullptr) return std::nullopt;
  return shared_page_if_present(slot->hva_of(gfn));
}

std::optional<Pfn> Vm::private_backing(Gfn gfn) const {
  const Memslot* slot = memslots_.find(gfn);
  if (slot == nullptr || !slot->gmem) return std::nullopt;
  const GuestMemfd::Page* page =
      gmems_[slot->gmem->guest_memfd - 1]->page(slot->gmem_index_of(gfn));
  if (page == nullptr) return std::nullopt;
  return page->pfn;
}

}  // namespace snpemu::hv
