// mmu/walk_internal.h: package-private pieces shared by walk.cc and nested.cc.
#pragma once

#include <cstdint>
#include <expected>

#include "mmu/mmu.h"

namespace snpemu::mmu::internal {

/// Bits lo..hi inclusive set (empty if lo > hi).
constexpr uint64_t bit_range(int lo, int hi) {
  if (lo > hi) return 0;
  const uint64_t upper = hi >= 63 ? ~uint64_t{0} : (uint64_t{1} << (hi + 1)) - 1;
  return upper & ~((uint64_t{1} << lo) - 1);
}

/// The long-mode table walk without the canonical check: reads entries from `regs.cr3`,
/// checks presence, reserved bits and rights, then (if `final_nested`) translates the output
/// GPA through the NPT, and only then sets A/D. A fault is Fault::kPageFault, or a fault that
/// `tables` or the final nested walk reported. `gpa_out` receives the guest-level output address.
std::expected<Translation, Fault> walk_tables(TableAccess& tables, const PagingRegs& regs,
                                              const PagingConfig& config, uint64_t address,
                                              Access access,
                                              const NestedPaging* final_nested = nullptr,
                                              uint64_t* gpa_out = nullptr);

}  // namespace snpemu::mmu::internal
