// emu/vmm/vmm.h: the userspace VMM model (the QEMU side of KVM's private-memory ABI).
//
//   convert.cc   handle_map_gpa_range (KVM_EXIT_HYPERCALL / KVM_HC_MAP_GPA_RANGE),
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

// The conversion itself is the hypervisor model's (emu/hv/convert.h: the in-kernel PSC option
// runs the same code): the VMM uses it through these names.
using hv::ConvertResult;
using hv::ConvertStatus;
using hv::convert_memory;
using hv::convert_status_name;

/// Handles KVM_EXIT_HYPERCALL: nr must be KVM_HC_MAP_GPA_RANGE, then hv::map_gpa_range on
/// args[0] = gpa, args[1] = npages, args[2] = attrs (its checks), with `timing` for ranges made
/// private (kEager: the VMM's conversion prepares every page at once). Writes run.ret.
ConvertResult handle_map_gpa_range(hv::Vm& vm, KvmRunHypercall& run,
                                   hv::RmpUpdateTiming timing = hv::RmpUpdateTiming::kLazy);

/// Handles KVM_EXIT_MEMORY_FAULT by converting the page to what the access wanted (private
/// flag set -> private), the implicit conversion of PLATFORM-FACTS 6.
ConvertResult handle_memory_fault(hv::Vm& vm, const hv::KvmMemoryFault& fault,
                                  hv::RmpUpdateTiming timing = hv::RmpUpdateTiming::kLazy);

}  // namespace snpemu::vmm
