// emu/hv/memslots.cc: KVM_SET_USER_MEMORY_REGION2 argument checks and the memslot set.
#include <algorithm>
#include <iterator>

#include "base/hex.h"
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

// access_ok() limit on x86-64 with 4-level paging (TASK_SIZE_MAX).
// UNCONFIRMED: recalled from arch/x86/include/asm/page_64_types.h; 5-level paging allows more.
constexpr uint64_t kTaskSizeMax = 0x0000'7FFF'FFFF'F000;

std::unexpected<KvmError> einval(std::string what, const char* function) {
  return std::unexpected(KvmError{KvmErrno::kEinval, what + " (" + function + ")"});
}

}  // namespace

const char* memslot_change_name(MemslotChange c) {
  switch (c) {
    case MemslotChange::kCreate:
      return "create";
    case MemslotChange::kDelete:
      return "delete";
    case MemslotChange::kMove:
      return "move";
    case MemslotChange::kFlagsOnly:
      return "flags-only";
    case MemslotChange::kNone:
      return "none";
  }
  return "?";
}

// [L] virt/kvm/kvm_main.c kvm_vm_ioctl_set_memory_region, check_memory_region_flags and the
// "general sanity checks" of kvm_set_memory_region, in that order.
KvmResult<void> check_memory_region(const KvmUserspaceMemoryRegion2& mem, const VmFeatures& vm) {
  const uint16_t id = static_cast<uint16_t>(mem.slot);
  const uint32_t as_id = mem.slot >> 16;
  if (id >= kKvmUserMemSlots) {
    return einval("slot id " + std::to_string(id) + " >= KVM_USER_MEM_SLOTS " +
                      std::to_string(kKvmUserMemSlots),
                  "kvm_vm_ioctl_set_memory_region");
  }

  uint32_t valid = kKvmMemLogDirtyPages;
  if (vm.has_private_mem) valid |= kKvmMemGuestMemfd;
  if ((mem.flags & kKvmMemGuestMemfd) != 0) valid &= ~kKvmMemLogDirtyPages;
  if (vm.readonly_memslots && (mem.flags & kKvmMemGuestMemfd) == 0) valid |= kKvmMemReadonly;
  if ((mem.flags & ~valid) != 0) {
    return einval(
        "flags " + hex(mem.flags) + " outside the valid set " + hex(valid) + " for this VM type",
        "check_memory_region_flags");
  }

  if ((mem.memory_size & kPageOffsetMask) != 0) {
    return einval("memory_size " + hex(mem.memory_size) + " not page aligned",
                  "kvm_set_memory_region");
  }
  if ((mem.guest_phys_addr & kPageOffsetMask) != 0) {
    return einval("guest_phys_addr " + hex(mem.guest_phys_addr) + " not page aligned",
                  "kvm_set_memory_region");
  }
  if ((mem.userspace_addr & kPageOffsetMask) != 0 || mem.memory_size > kTaskSizeMax ||
      mem.userspace_addr > kTaskSizeMax - mem.memory_size) {
    return einval("userspace_addr " + hex(mem.userspace_addr) +
                      " not page aligned or not a user range of " + hex(mem.memory_size) +
                      " bytes (access_ok)",
                  "kvm_set_memory_region");
  }
  if ((mem.flags & kKvmMemGuestMemfd) != 0 &&
      ((mem.guest_memfd_offset & kPageOffsetMask) != 0 ||
       mem.guest_memfd_offset + mem.memory_size < mem.guest_memfd_offset)) {
    return einval("guest_memfd_offset " + hex(mem.guest_memfd_offset) +
                      " not page aligned or offset + size wraps",
                  "kvm_set_memory_region");
  }
  // [L] arch/x86/include/asm/kvm_host.h kvm_arch_nr_memslot_as_ids: 1 address space for VMs with
  // private memory, 2 (SMM) otherwise. Divergence: SMM is not modelled, so as_id != 0 is EINVAL
  // for every type here (KVM accepts as_id 1 for default, SEV and SEV-ES VMs).
  if (as_id != 0) {
    return einval("address space " + std::to_string(as_id) + " not supported",
                  "kvm_set_memory_region");
  }
  if (mem.guest_phys_addr + mem.memory_size < mem.guest_phys_addr) {
    return einval("guest_phys_addr " + hex(mem.guest_phys_addr) + " + memory_size wraps",
                  "kvm_set_memory_region");
  }
  if ((mem.memory_size >> kPageShift) > kKvmMemMaxNrPages) {
    return einval("memory_size " + hex(mem.memory_size) + " exceeds KVM_MEM_MAX_NR_PAGES",
                  "kvm_set_memory_region");
  }
  return {};
}

const Memslot* Memslots::find(Gfn gfn) const {
  auto it = by_gfn_.upper_bound(gfn.value);
  if (it == by_gfn_.begin()) return nullptr;
  --it;
  return it->second.contains(gfn) ? &it->second : nullptr;
}

const Memslot* Memslots::by_id(uint16_t id) const {
  auto it = ids_.find(id);
  return it == ids_.end() ? nullptr : &by_gfn_.at(it->second);
}

bool Memslots::overlaps(uint16_t id, Gfn start, Gfn end) const {
  for (const Memslot* s : in_range(start, end)) {
    if (s->id != id) return true;
  }
  return false;
}

std::vector<const Memslot*> Memslots::in_range(Gfn start, Gfn end) const {
  std::vector<const Memslot*> out;
  if (start.value >= end.value) return out;
  auto it = by_gfn_.upper_bound(start.value);
  if (it != by_gfn_.begin() && std::prev(it)->second.end_gfn().value > start.value) --it;
  for (; it != by_gfn_.end() && it->first < end.value; ++it) {
    if (it->second.end_gfn().value > start.value) out.push_back(&it->second);
  }
  return out;
}

std::vector<const Memslot*> Memslots::all() const {
  std::vector<const Memslot*> out;
  for (const auto& [gfn, slot] : by_gfn_) out.push_back(&slot);
  return out;
}

void Memslots::install(const Memslot& slot) {
  remove(slot.id);
  by_gfn_[slot.base_gfn.value] = slot;
  ids_[slot.id] = slot.base_gfn.value;
}

void Memslots::remove(uint16_t id) {
  auto it = ids_.find(id);
  if (it == ids_.end()) return;
  by_gfn_.erase(it->second);
  ids_.erase(it);
}

}  // namespace snpemu::hv
