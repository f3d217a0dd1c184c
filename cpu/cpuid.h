// cpu/cpuid.h: configurable CPUID leaves.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace snpemu::cpu {

inline constexpr uint32_t kAnySubleaf = 0xFFFFFFFF;

/// One CPUID result: function (EAX in), subleaf (ECX in, or kAnySubleaf) and the outputs.
struct CpuidLeaf {
  uint32_t function = 0;
  uint32_t subleaf = kAnySubleaf;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

/// A Zen 4 (EPYC 9004 "Genoa") profile with SVM and SEV-SNP advertised.
std::vector<CpuidLeaf> zen4_cpuid();

/// Looks up (function, subleaf) in `leaves`; nullopt when absent (CPUID then returns zeros).
std::optional<CpuidLeaf> find_cpuid(std::span<const CpuidLeaf> leaves, uint32_t function,
                                    uint32_t subleaf);

}  // namespace snpemu::cpu
