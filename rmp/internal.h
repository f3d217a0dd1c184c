// rmp/internal.h: helpers shared by the instruction and check files. Package-private.
#pragma once

#include "rmp/rmp.h"

namespace snpemu::rmp::detail {

inline constexpr uint64_t kPagesPer2M = 512;
inline constexpr uint64_t k2MMask = kLargePageSize - 1;

constexpr Pfn head_of(Pfn p) { return Pfn{p.value & ~(kPagesPer2M - 1)}; }

inline InsnResult rc(RmpRc code, bool cf = false) { return InsnResult{code, cf, std::nullopt}; }

/// #NPF raised by PVALIDATE / RMPADJUST: the nested translation was present and final, the access
/// is private. UNCONFIRMED: which access bits (W/U/FETCH) hardware reports for these; none here.
inline InsnResult insn_npf(Gpa gpa, uint64_t extra_bits) {
  return InsnResult{RmpRc::kSuccess, false,
                    Fault{Fault::Kind::kNpf,
                          npf::kPresent | npf::kGuestFinal | npf::kEnc | npf::kRmp | extra_bits,
                          gpa.value}};
}

/// Summary of the 512 entries of a 2 MiB region (uncovered pages count as unassigned).
struct RegionScan {
  bool any_assigned = false;
  bool any_assigned_4k = false;
  bool any_immutable = false;
};

/// Scans the region starting at `head` (2 MiB aligned) with at most two page pointers when the
/// entries are contiguous (always, unless the region straddles a segment end).
RegionScan scan_region(const Rmp& rmp, Pfn head);

}  // namespace snpemu::rmp::detail
