// emu/vmm/guest_boot.cc: boot pages and start state of a 64-bit guest (see guest_boot.h).
#include "emu/vmm/guest_boot.h"

#include "base/hex.h"
#include "emu/elf/elf.h"
#include "emu/exec/boot_layout.h"

namespace snpemu::vmm {

std::expected<uint64_t, std::string> load_guest_image(kvm::VirtualMachine& vm, std::span<const uint8_t> elf,
                                                      uint64_t mem_bytes, uint64_t pte_bits) {
  auto image = parse_elf64(elf);
  if (!image) return std::unexpected(image.error());
  for (const ElfSegment& s : image->segments) {
    if (s.paddr < boot::kLoaderEnd || s.paddr + s.memsz > mem_bytes || s.paddr + s.memsz < s.paddr) {
      return std::unexpected("ELF: segment at " + hex(s.paddr) + " (+" + hex(s.memsz) +
                             ") is outside guest memory above " + hex(boot::kLoaderEnd));
    }
    if (auto w = vm.write_guest(s.paddr, elf.subspan(s.offset, s.filesz)); !w) {
      return std::unexpected("loading the segment at " + hex(s.paddr) + ": " + w.error().describe());
    }
    // Bytes past filesz read zero: fresh guest RAM is zero.
  }
  if (auto b = write_boot_pages(vm, pte_bits); !b) return std::unexpected(b.error());
  return image->entry;
}

uint64_t guest_code_floor() { return boot::kLoaderEnd; }

MachineConfig host_config(hv::VmType type, uint64_t guest_mem_bytes, uint32_t vcpus) {
  MachineConfig mc;
  mc.cores = vcpus;
  mc.mem_bytes = (guest_mem_bytes * 2 + (uint64_t{256} << 20) + 0x1FFFFF) & ~uint64_t{0x1FFFFF};
  mc.memory_encryption = true;  // SEV, SEV-ES and SNP guests get their keys from the AMD-SP
  (void)type;
  return mc;
}

std::expected<void, std::string> write_boot_pages(kvm::VirtualMachine& vm, uint64_t pte_bits) {
  const auto pt = boot::page_tables_image(pte_bits);
  const auto gdt = boot::gdt_page_image();
  if (auto w = vm.write_guest(boot::kPml4, pt); !w) return std::unexpected("boot page tables: " + w.error().describe());
  if (auto w = vm.write_guest(boot::kGdt, gdt); !w) return std::unexpected("boot GDT: " + w.error().describe());
  return {};
}

hv::LongModeStart boot_start(uint64_t entry, uint32_t index) {
  return hv::LongModeStart{.rip = entry,
                           .rsp = boot::kStackTop - index * kStackPerVcpu,
                           .cr3 = boot::kPml4,
                           .gdtr_base = boot::kGdt,
                           .gdtr_limit = boot::kGdtLimit};
}

}  // namespace snpemu::vmm
