// emu/kvm/asid.cc: which ASIDs a VM of each type gets (see kvm.h). Sources: PLATFORM-FACTS 0
// and APM vol 3 E.4.17 (CPUID Fn8000_001F: ECX = the highest encrypted-guest ASID, EDX = the
// lowest ASID of an SEV guest that is not SEV-ES); APM vol 3 E.4.9 (Fn8000_000A EBX: NASID);
// [L] KVM sev.c sev_asid_new (SEV-ES and SNP guests take [1, min_sev_asid - 1], SEV guests
// [min_sev_asid, max_sev_asid]) and svm.c (plain guests use ASIDs above max_sev_asid).
//
// Model simplifications: KVM hands plain guests per-CPU ASIDs that change on every TLB
// generation; here each VM keeps one for its lifetime. An encrypted-guest ASID is not reused
// within a Hypervisor's lifetime (KVM reuses it after SNP_DF_FLUSH / DF_FLUSH), so the count of
// such VMs is bounded by the range (EBUSY after that, as KVM when the range is exhausted).
#include "emu/kvm/kvm.h"

namespace snpemu::kvm {

hv::KvmResult<Asid> Hypervisor::allocate_asid(hv::VmType type) {
  const auto& cpuid = machine_.core(0).config().cpuid;
  const auto sev = cpu::find_cpuid(cpuid, 0x8000001F, 0).value_or(cpu::CpuidLeaf{});
  const auto svm = cpu::find_cpuid(cpuid, 0x8000000A, 0).value_or(cpu::CpuidLeaf{});
  const uint32_t min_sev_asid = sev.edx, max_sev_asid = sev.ecx, nasid = svm.ebx;
  const hv::VmFeatures f = hv::vm_features(type);
  uint32_t first = max_sev_asid + 1, last = nasid - 1;
  if (f.has_protected_state) {
    first = 1;
    last = min_sev_asid - 1;
  } else if (f.memory_encryption) {
    first = min_sev_asid;
    last = max_sev_asid;
  }
  if (asid_used_.size() < size_t{last} + 1) asid_used_.resize(size_t{last} + 1, false);
  for (uint32_t a = first; a != 0 && a <= last; ++a) {
    if (!asid_used_[a]) {
      asid_used_[a] = true;
      return Asid{a};
    }
  }
  return std::unexpected(hv::KvmError{hv::KvmErrno::kEbusy,
                                      std::string("no free ASID for a ") + hv::vm_type_name(type) +
                                          " VM in " + std::to_string(first) + ".." + std::to_string(last)});
}

}  // namespace snpemu::kvm
