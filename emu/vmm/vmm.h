// emu/vmm/vmm.h: the userspace VMM model (the QEMU side of KVM's private-memory ABI).
//
//   convert.cc   convert_memory (KVM_SET_MEMORY_ATTRIBUTES + discard of the old backing),
//                handle_map_gpa_range (KVM_EXIT_HYPERCALL / KVM_HC_MAP_GPA_RANGE),
//                handle_memory_fault (KVM_EXIT_MEMORY_FAULT: implicit conversion)
//   launch_plan.h/.cc  (//emu/vmm:launch_plan, its own header: no KVM model needed)
//                make_launch_plan (the LAUNCH_UPDATE ranges an SNP guest ELF is launched with:
//                image, boot page tables and GDT, stack, secrets and CPUID pages, one VMSA per
//                vCPU), initial_vmsa, measure (the launch digest via firmware/ LaunchDigest)
//
// What a VMM does on these exits is not KVM ABI; the model follows QEMU's kvm_convert_memory
// (set the attributes, then discard the side the range left: the shared pages when it becomes
// private, the guest_memfd pages by punching a hole when it becomes shared), so a page
// converted away and back reads zeros. UNCONFIRMED: QEMU behaviour recalled, not re-read.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "emu/hv/hv.h"

namespace snpemu::vmm {

/// kvm_run.hypercall as KVM fills it on KVM_EXIT_HYPERCALL (PLATFORM-FACTS 7.1), fields verbatim.
struct KvmRunHypercall {
  uint64_t nr = 0;
  std::array<uint64_t, 6> args{};
  uint64_t ret = 0;    ///< written by the VMM; 0 = success
  uint64_t flags = 0;  ///< bit 0 KVM_EXIT_HYPERCALL_LONG_MODE
};
inline constexpr uint64_t kKvmExitHypercallLongMode = 1;

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
};
const char* convert_status_name(ConvertStatus s);

/// The outcome of one conversion: status, the value for kvm_run.hypercall.ret, what was done.
struct ConvertResult {
  ConvertStatus status = ConvertStatus::kOk;
  /// 0 on success, else -EINVAL as an unsigned 64-bit value (any non-zero value becomes the PSC
  /// generic error on completion). UNCONFIRMED: the exact non-zero value QEMU writes.
  uint64_t ret = 0;
  std::string message;  ///< empty on success
  bool attributes_changed = false;
  uint64_t shared_pages_discarded = 0;
  uint64_t private_pages_discarded = 0;
  bool ok() const { return status == ConvertStatus::kOk; }
};

/// Converts [gpa, gpa + size) (page aligned, inside memslots) to private or shared: sets the
/// memory attributes, then discards the old backing of the range.
ConvertResult convert_memory(hv::Vm& vm, uint64_t gpa, uint64_t size, bool to_private);

/// Handles KVM_EXIT_HYPERCALL: nr must be KVM_HC_MAP_GPA_RANGE; args[0] = gpa (page aligned),
/// args[1] = npages (non-zero, no wrap), args[2] = attrs (page size bits 3:0 in {4K, 2M, 1G},
/// enc status bits 7:4 in {0, 1}, nothing else; the page size is not checked against the
/// alignment, since KVM's SNP PSC passes a 2M flag for a partly done 2M entry). Writes run.ret.
ConvertResult handle_map_gpa_range(hv::Vm& vm, KvmRunHypercall& run);

/// Handles KVM_EXIT_MEMORY_FAULT by converting the page to what the access wanted (private
/// flag set -> private), the implicit conversion of PLATFORM-FACTS 6.
ConvertResult handle_memory_fault(hv::Vm& vm, const hv::KvmMemoryFault& fault);

}  // namespace snpemu::vmm
