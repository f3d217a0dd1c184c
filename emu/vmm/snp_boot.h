// emu/vmm/snp_boot.h: how the VMM launches an SNP guest image through the KVM facade, the flow
// a userspace VMM (QEMU) runs with KVM's SNP ioctls, PLATFORM-FACTS 8.10:
//   1. all guest RAM private (KVM_SET_MEMORY_ATTRIBUTES: QEMU makes guest_memfd RAM private
//      before the launch; nothing is backed yet);
//   2. KVM_SEV_SNP_LAUNCH_START with the plan's policy;
//   3. KVM_SEV_SNP_LAUNCH_UPDATE for every range of the launch plan (emu/vmm/launch_plan.h:
//      the ELF's pages, boot page tables, GDT, stack, secrets, CPUID) in the plan's order;
//   4. each vCPU's register state (its VMSA from the plan), then KVM_SEV_SNP_LAUNCH_FINISH,
//      which measures the VMSAs.
// The launch digest the firmware computes is therefore the one `snpemu measure` prints for the
// same image and vCPU count.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "emu/kvm/kvm.h"
#include "emu/vmm/launch_plan.h"

namespace snpemu::vmm {

/// Launches `elf` into the SNP VM `vm` (fresh, every vCPU created). Returns the plan that was
/// launched, or one line naming the step and the cause (malformed image, a refused page with
/// the firmware's status and message).
std::expected<LaunchPlan, std::string> launch_snp_guest(kvm::VirtualMachine& vm, std::span<const uint8_t> elf,
                                                        const LaunchOptions& options);

}  // namespace snpemu::vmm
