// emu/hv/cpuid_table.cc: the guest CPUID table (KVM_SET_CPUID2) and its lookup.
#include <algorithm>

#include "base/hex.h"
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

bool significant(const KvmCpuidEntry2& e) { return (e.flags & kKvmCpuidFlagSignificantIndex) != 0; }

}  // namespace

// [L] arch/x86/kvm/cpuid.c kvm_vcpu_ioctl_set_cpuid2: nent > KVM_MAX_CPUID_ENTRIES is E2BIG.
KvmResult<void> CpuidTable::set(std::span<const KvmCpuidEntry2> entries) {
  if (entries.size() > kKvmMaxCpuidEntries) {
    return std::unexpected(KvmError{KvmErrno::kE2big, std::to_string(entries.size()) +
                                                          " CPUID entries, at most " +
                                                          std::to_string(kKvmMaxCpuidEntries) +
                                                          " (kvm_vcpu_ioctl_set_cpuid2)"});
  }
  std::vector<KvmCpuidEntry2> sorted(entries.begin(), entries.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.function != b.function ? a.function < b.function : a.index < b.index;
  });
  for (size_t i = 1; i < sorted.size(); ++i) {
    const KvmCpuidEntry2& a = sorted[i - 1];
    const KvmCpuidEntry2& b = sorted[i];
    if (a.function != b.function) continue;
    // Same function: only entries that all have significant, distinct indexes can coexist
    // (sorting puts every entry of a function next to another one of it, so checking
    // neighbours finds every clash).
    if (!significant(a) || !significant(b) || a.index == b.index) {
      return std::unexpected(
          KvmError{KvmErrno::kEinval, "CPUID entries for function " + hex(b.function) +
                                          " are ambiguous (same index or no significant index)"});
    }
  }
  entries_ = std::move(sorted);
  return {};
}

// [L] cpuid.c cpuid_entry2_find: the function must match; the index only when the entry has
// KVM_CPUID_FLAG_SIGNIFCANT_INDEX.
const KvmCpuidEntry2* CpuidTable::find(uint32_t function, uint32_t index) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), function,
                             [](const KvmCpuidEntry2& e, uint32_t f) { return e.function < f; });
  for (; it != entries_.end() && it->function == function; ++it) {
    if (!significant(*it) || it->index == index) return &*it;
  }
  return nullptr;
}

}  // namespace snpemu::hv
