// emu/hv/convert.h: private <-> shared conversion of a GPA range, part of hv.h's table of
// contents (include emu/hv/hv.h). One implementation for both places that convert:
//   - the VMM (emu/vmm handle_map_gpa_range / handle_memory_fault), KVM's design: the guest's
//     Page State Change exits as KVM_HC_MAP_GPA_RANGE and userspace converts;
//   - the hypervisor itself when ExitOptions::psc_handling is kInKernel (ghcb_psc.cc).
// A conversion sets the memory attributes (KVM_SET_MEMORY_ATTRIBUTES), then discards the side
// the range left: the VMM's shared pages when it becomes private, the guest_memfd pages (punch
// hole, whose gmem_invalidate returns the RMP entries to the hypervisor) when it becomes shared,
// so a page converted away and back reads zeros. That is QEMU's kvm_convert_memory.
// UNCONFIRMED: QEMU behaviour recalled, not re-read.
// With RmpUpdateTiming::kEager a conversion to private also allocates every guest_memfd page of
// the range and runs gmem_prepare on it at once (Vm::gmem_prepare_gfn), instead of at the first
// private fault (KVM, kLazy; PLATFORM-FACTS 1.9, 4.9).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace snpemu::hv {

class Vm;

/// Who converts on a guest Page State Change (MSR or GHCB form).
enum class PscHandling : uint8_t {
  kVmm,       ///< KVM: each range exits as KVM_EXIT_HYPERCALL / KVM_HC_MAP_GPA_RANGE
  kInKernel,  ///< the hypervisor converts itself (convert_memory) and answers the guest
};
/// "vmm", "in-kernel".
const char* psc_handling_name(PscHandling h);
std::optional<PscHandling> parse_psc_handling(std::string_view name);

/// When a private page's RMP entry becomes guest-owned.
enum class RmpUpdateTiming : uint8_t {
  kLazy,   ///< KVM: gmem_prepare at the first private fault of the page
  kEager,  ///< at conversion: every page of a range converted to private is allocated+prepared
};
/// "lazy", "eager".
const char* rmp_update_timing_name(RmpUpdateTiming t);
std::optional<RmpUpdateTiming> parse_rmp_update_timing(std::string_view name);

/// Why a conversion request succeeded or failed.
enum class ConvertStatus : uint8_t {
  kOk,
  kNotMapGpaRange,       ///< hypercall nr is not KVM_HC_MAP_GPA_RANGE
  kUnaligned,            ///< gpa not 4 KiB aligned
  kZeroPages,            ///< npages (or size) is 0
  kWrap,                 ///< the range wraps the address space
  kBadAttributes,        ///< attrs has bits outside page size 3:0 / enc status 7:4, or bad values
  kOutsideMemslots,      ///< part of the range is in no memslot
  kNoGuestMemfd,         ///< to private, but a covering slot has no guest_memfd
  kSetAttributesFailed,  ///< KVM_SET_MEMORY_ATTRIBUTES failed (e.g. type without private memory)
  kPrepareFailed,        ///< eager: allocating or preparing a guest_memfd page failed
};
const char* convert_status_name(ConvertStatus s);

/// kvm_run.hypercall.ret of a failed conversion: -EINVAL as an unsigned 64-bit value.
/// UNCONFIRMED: the exact non-zero value QEMU writes (any non-zero value is the PSC error).
inline constexpr uint64_t kConvertErrorRet = ~uint64_t{22} + 1;

/// The outcome of one conversion: status, the value for kvm_run.hypercall.ret, what was done.
struct ConvertResult {
  ConvertStatus status = ConvertStatus::kOk;
  /// 0 on success, else kConvertErrorRet (any non-zero value becomes the PSC error answer).
  uint64_t ret = 0;
  std::string message;  ///< empty on success
  bool attributes_changed = false;
  uint64_t shared_pages_discarded = 0;
  uint64_t private_pages_discarded = 0;
  uint64_t pages_prepared = 0;  ///< eager: gmem_prepare calls made by this conversion
  bool ok() const { return status == ConvertStatus::kOk; }
};

/// Converts [gpa, gpa + size) (page aligned, inside memslots) to private or shared: sets the
/// memory attributes, discards the old backing, and with kEager prepares every page of a range
/// made private. A failure after the attributes changed leaves them changed (as a VMM whose
/// discard fails after KVM_SET_MEMORY_ATTRIBUTES).
ConvertResult convert_memory(Vm& vm, uint64_t gpa, uint64_t size, bool to_private,
                             RmpUpdateTiming timing = RmpUpdateTiming::kLazy);

/// KVM_HC_MAP_GPA_RANGE's arguments, checked, then converted: gpa page aligned, npages non-zero
/// without wrap, attrs = page size bits 3:0 in {4K, 2M, 1G} | enc status bits 7:4 in {0, 1},
/// nothing else (the page size is not checked against the alignment, since KVM's SNP PSC passes
/// a 2M flag for a partly done 2M entry).
ConvertResult map_gpa_range(Vm& vm, uint64_t gpa, uint64_t npages, uint64_t attrs,
                            RmpUpdateTiming timing = RmpUpdateTiming::kLazy);

}  // namespace snpemu::hv
