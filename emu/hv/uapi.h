// emu/hv/uapi.h: the KVM ABI pieces the hypervisor model speaks (a pure table, included by
// hv.h). Names follow Linux include/uapi/linux/kvm.h, include/uapi/linux/kvm_para.h and
// arch/x86/include/asm/kvm_host.h; struct fields verbatim, padding omitted. PLATFORM-FACTS 4.8,
// 6 and 7.
#pragma once

#include <cstdint>

namespace snpemu::hv {

/// KVM_MEMORY_ATTRIBUTE_PRIVATE [L] uapi kvm.h (bits 0-2 are reserved for RWX).
inline constexpr uint64_t kKvmMemoryAttributePrivate = uint64_t{1} << 3;

/// struct kvm_memory_attributes, the KVM_SET_MEMORY_ATTRIBUTES argument, fields verbatim.
struct KvmMemoryAttributes {
  uint64_t address = 0;
  uint64_t size = 0;
  uint64_t attributes = 0;
  uint64_t flags = 0;
};

/// Memslot flags [L] uapi kvm.h.
inline constexpr uint32_t kKvmMemLogDirtyPages = uint32_t{1} << 0;
inline constexpr uint32_t kKvmMemReadonly = uint32_t{1} << 1;
inline constexpr uint32_t kKvmMemGuestMemfd = uint32_t{1} << 2;
/// x86 KVM_USER_MEM_SLOTS = KVM_MEM_SLOTS_NUM (SHRT_MAX) - KVM_INTERNAL_MEM_SLOTS (3).
/// [L] include/linux/kvm_host.h, arch/x86/include/asm/kvm_host.h.
inline constexpr uint32_t kKvmUserMemSlots = 32764;
/// KVM_MEM_MAX_NR_PAGES = (1 << 31) - 1. [L] include/linux/kvm_host.h.
inline constexpr uint64_t kKvmMemMaxNrPages = (uint64_t{1} << 31) - 1;

/// struct kvm_userspace_memory_region2, the KVM_SET_USER_MEMORY_REGION2 argument (padding
/// omitted), fields verbatim. `slot` bits 31:16 are the address space, 15:0 the slot id.
/// userspace_addr is a VMM virtual address: the shared pool backs it page by page.
/// guest_memfd is the handle create_guest_memfd() returned.
struct KvmUserspaceMemoryRegion2 {
  uint32_t slot = 0;
  uint32_t flags = 0;
  uint64_t guest_phys_addr = 0;
  uint64_t memory_size = 0;  ///< 0 deletes the slot
  uint64_t userspace_addr = 0;
  uint64_t guest_memfd_offset = 0;
  uint32_t guest_memfd = 0;
};

/// struct kvm_create_guest_memfd (reserved words omitted). No flags are supported here
/// (GUEST_MEMFD_FLAG_MMAP / INIT_SHARED are not modelled): any flag is EINVAL.
struct KvmCreateGuestMemfd {
  uint64_t size = 0;
  uint64_t flags = 0;
};

/// NPF error-code bits. PLATFORM-FACTS 4.8 / 6 [L] asm/kvm_host.h.
inline constexpr uint64_t kPferrPresent = uint64_t{1} << 0;
inline constexpr uint64_t kPferrWrite = uint64_t{1} << 1;
inline constexpr uint64_t kPferrUser = uint64_t{1} << 2;
inline constexpr uint64_t kPferrRsvd = uint64_t{1} << 3;
inline constexpr uint64_t kPferrFetch = uint64_t{1} << 4;
inline constexpr uint64_t kPferrRmp = uint64_t{1} << 31;
inline constexpr uint64_t kPferrGuestFinal = uint64_t{1} << 32;
inline constexpr uint64_t kPferrGuestPage = uint64_t{1} << 33;
inline constexpr uint64_t kPferrEnc = uint64_t{1} << 34;
inline constexpr uint64_t kPferrSizem = uint64_t{1} << 35;
inline constexpr uint64_t kPferrVmpl = uint64_t{1} << 36;
inline constexpr uint64_t kPferrImplicitAccess = uint64_t{1} << 48;  ///< KVM software-only
inline constexpr uint64_t kPferrPrivateAccess = uint64_t{1} << 49;   ///< KVM software-only
inline constexpr uint64_t kPferrSyntheticMask = kPferrImplicitAccess | kPferrPrivateAccess;

/// KVM_EXIT_* reasons and the memory-fault / hypercall ABI. PLATFORM-FACTS 7.1-7.2 [L].
inline constexpr uint32_t kKvmExitHypercall = 3;
inline constexpr uint32_t kKvmExitMemoryFault = 39;
inline constexpr uint64_t kKvmMemoryExitFlagPrivate = uint64_t{1} << 3;
inline constexpr uint64_t kKvmHcMapGpaRange = 12;
inline constexpr uint64_t kKvmMapGpaRangePageSzMask = 0xF;  ///< bits 3:0
inline constexpr uint64_t kKvmMapGpaRangePageSz4K = 0;
inline constexpr uint64_t kKvmMapGpaRangePageSz2M = uint64_t{1} << 0;
inline constexpr uint64_t kKvmMapGpaRangePageSz1G = uint64_t{1} << 1;
inline constexpr uint64_t kKvmMapGpaRangeEncStatMask = uint64_t{0xF} << 4;  ///< bits 7:4
inline constexpr uint64_t kKvmMapGpaRangeEncrypted = uint64_t{1} << 4;
inline constexpr uint64_t kKvmMapGpaRangeDecrypted = 0;

/// kvm_run.memory_fault (KVM_EXIT_MEMORY_FAULT payload), fields verbatim.
struct KvmMemoryFault {
  uint64_t flags = 0;  ///< kKvmMemoryExitFlagPrivate iff the access was private
  uint64_t gpa = 0;    ///< page aligned (gfn << 12)
  uint64_t size = 0;   ///< 4096
  constexpr bool operator==(const KvmMemoryFault&) const = default;
};

}  // namespace snpemu::hv
