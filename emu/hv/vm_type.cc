// emu/hv/vm_type.cc: KVM's x86 VM types and what each allows.
#include "emu/hv/hv.h"

namespace snpemu::hv {

// [L] arch/x86/kvm/x86.c kvm_arch_init_vm: has_private_mem for SW_PROTECTED (and SNP, set in
// svm/sev.c sev_vm_init together with has_protected_state for SEV-ES and SNP);
// kvm_arch_has_readonly_mem is !has_protected_state (asm/kvm_host.h). PLATFORM-FACTS 7.3.
VmFeatures vm_features(VmType type) {
  switch (type) {
    case VmType::kDefault:
      return VmFeatures{.readonly_memslots = true};
    case VmType::kSwProtected:
      return VmFeatures{.has_private_mem = true, .readonly_memslots = true};
    case VmType::kSev:
      return VmFeatures{.memory_encryption = true, .readonly_memslots = true};
    case VmType::kSevEs:
      return VmFeatures{.has_protected_state = true, .memory_encryption = true};
    case VmType::kSnp:
      return VmFeatures{.has_private_mem = true,
                        .has_protected_state = true,
                        .memory_encryption = true,
                        .rmp = true};
  }
  return VmFeatures{};
}

const char* vm_type_name(VmType type) {
  switch (type) {
    case VmType::kDefault: return "default";
    case VmType::kSwProtected: return "sw-protected";
    case VmType::kSev: return "sev";
    case VmType::kSevEs: return "sev-es";
    case VmType::kSnp: return "snp";
  }
  return "?";
}

// [L] virt/kvm/kvm_main.c kvm_supported_mem_attributes.
uint64_t supported_memory_attributes(VmType type) {
  return vm_features(type).has_private_mem ? kKvmMemoryAttributePrivate : 0;
}

}  // namespace snpemu::hv
