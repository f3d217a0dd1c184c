// emu/vmm/guest_boot.cc: boot pages and start state of a 64-bit guest (see guest_boot.h).
#include "emu/vmm/guest_boot.h"

#include "emu/exec/boot_layout.h"

namespace snpemu::vmm {

uint64_t guest_code_floor() { return boot::kLoaderEnd; }

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
