// emu/vmm/guest_boot.h: the 64-bit boot a VMM gives a guest under the KVM facade (emu/kvm): the
// boot pages (identity page tables and GDT, emu/exec/boot_layout.h) written into guest RAM, and
// each vCPU's long-mode start state. Used by whoever creates a VM and places guest code itself
// (the VMM main loop's image loading, benchmarks, scenario tests).
//
// Guest layout: identity-mapped 4 GiB with 2 MiB pages at 0x1000, GDT at 0x7000, vCPU i's stack
// top at 0x80000 - i * kStackPerVcpu with RDI = i; guest code must lie at or above
// kGuestCodeFloor and inside guest memory.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "emu/hv/hv.h"
#include "emu/kvm/kvm.h"
#include "emu/machine_config.h"

namespace snpemu::vmm {

/// The host a VM of `type` with `guest_mem_bytes` of RAM and `vcpus` vCPUs runs on: RAM for the
/// guest (twice, for types with private memory), the hypervisor's pool, low memory and the RMP
/// (sparse, so the generous size costs nothing); one core per vCPU; memory encryption on (SEV-ES
/// guests get their keys from the legacy SEV launch, SNP guests from the SNP launch).
MachineConfig host_config(hv::VmType type, uint64_t guest_mem_bytes, uint32_t vcpus);

/// Stack bytes each vCPU gets below the previous one's.
inline constexpr uint64_t kStackPerVcpu = 0x4000;
/// Lowest guest-physical address guest code may occupy (everything below is the boot layout).
uint64_t guest_code_floor();

/// Writes the boot page tables and the GDT into guest RAM (the VMM's mmap of the memslot).
/// `pte_bits` is ORed into every page-table entry: the C-bit for an SEV guest (its table walks
/// and memory are private), 0 otherwise. Errors are one line naming the write that failed.
std::expected<void, std::string> write_boot_pages(kvm::VirtualMachine& vm, uint64_t pte_bits = 0);

/// Copies the PT_LOAD segments of `elf` into guest RAM (they must lie above the boot layout and
/// inside `mem_bytes`), then the boot pages; returns the entry point or one error line.
std::expected<uint64_t, std::string> load_guest_image(kvm::VirtualMachine& vm, std::span<const uint8_t> elf,
                                                      uint64_t mem_bytes, uint64_t pte_bits = 0);

/// vCPU `index`'s 64-bit start state at `entry`: CS/DS from the boot GDT, CR3 = the boot PML4,
/// RSP = its stack top. Pass to kvm::Vcpu::set_long_mode_start.
hv::LongModeStart boot_start(uint64_t entry, uint32_t index);

}  // namespace snpemu::vmm
