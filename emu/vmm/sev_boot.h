// emu/vmm/sev_boot.h: how the VMM launches an SEV-ES guest image through KVM's legacy SEV launch
// (the flow QEMU runs for an SEV-ES guest, [L] KVM Documentation amd-memory-encryption.rst):
//   1. the image and the boot pages (page tables with the C-bit, GDT) written into guest RAM,
//      every vCPU's register state set (its VMSA);
//   2. KVM_SEV_LAUNCH_START with the policy (NODBG | NOKS | ES by default), binding the ASID;
//   3. KVM_SEV_LAUNCH_UPDATE_DATA over the pages of every ELF segment and the boot pages (the
//      firmware encrypts them in place with the guest's key and measures them);
//   4. KVM_SEV_LAUNCH_UPDATE_VMSA (every vCPU), KVM_SEV_LAUNCH_MEASURE, KVM_SEV_LAUNCH_FINISH.
// Guest RAM outside those pages is not launched: the guest writes it before reading it.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "emu/kvm/kvm.h"

namespace snpemu::vmm {

/// NODBG | NOKS | ES ([L] psp-sev.h SEV_POLICY_MASK_*): what an SEV-ES guest needs.
inline constexpr uint32_t kSevEsDefaultPolicy = 0x7;

/// Loads and launches `elf` into the SEV-ES VM `vm`; every vCPU starts at the entry as with
/// boot_start. Returns the LAUNCH_MEASURE blob (measurement then MNONCE) or one error line.
std::expected<std::array<uint8_t, 48>, std::string> launch_sev_es_guest(kvm::VirtualMachine& vm,
                                                                        std::span<const uint8_t> elf,
                                                                        uint64_t mem_bytes, uint32_t policy);

}  // namespace snpemu::vmm
