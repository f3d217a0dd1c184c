// emu/vmm/sev_boot.cc: the legacy SEV-ES launch flow of the VMM (see sev_boot.h).
#include "emu/vmm/sev_boot.h"

#include "base/hex.h"
#include "emu/elf/elf.h"
#include "emu/exec/boot_layout.h"
#include "emu/vmm/guest_boot.h"

namespace snpemu::vmm {

std::expected<std::array<uint8_t, 48>, std::string> launch_sev_es_guest(kvm::VirtualMachine& vm,
                                                                        std::span<const uint8_t> elf,
                                                                        uint64_t mem_bytes, uint32_t policy) {
  auto image = parse_elf64(elf);
  if (!image) return std::unexpected(image.error());
  const uint8_t c_bit = vm.vcpu(0).core().config().paging.c_bit;
  auto entry = load_guest_image(vm, elf, mem_bytes, uint64_t{1} << c_bit);
  if (!entry) return std::unexpected(entry.error());
  for (uint32_t i = 0; i < vm.vcpu_count(); ++i) vm.vcpu(i).set_long_mode_start(boot_start(*entry, i));
  auto step = [](const char* what, const hv::KvmResult<void>& r) -> std::expected<void, std::string> {
    if (!r) return std::unexpected(std::string(what) + ": " + r.error().describe());
    return {};
  };
  if (auto r = step("LAUNCH_START", vm.sev_launch_start(policy)); !r) return std::unexpected(r.error());
  for (const ElfSegment& s : image->segments) {
    if (s.memsz == 0) continue;
    if (auto r = step("LAUNCH_UPDATE_DATA (ELF segment)", vm.sev_launch_update_data(s.paddr, s.memsz)); !r) {
      return std::unexpected(r.error());
    }
  }
  if (auto r = step("LAUNCH_UPDATE_DATA (boot pages)", vm.sev_launch_update_data(boot::kPml4, boot::kGdt + kPageSize - boot::kPml4));
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = step("LAUNCH_UPDATE_VMSA", vm.sev_launch_update_vmsa()); !r) return std::unexpected(r.error());
  auto blob = vm.sev_launch_measure();
  if (!blob) return std::unexpected("LAUNCH_MEASURE: " + blob.error().describe());
  if (auto r = step("LAUNCH_FINISH", vm.sev_launch_finish()); !r) return std::unexpected(r.error());
  return *blob;
}

}  // namespace snpemu::vmm
