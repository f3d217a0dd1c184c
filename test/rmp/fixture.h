// test/rmp/fixture.h: machines with an RMP for the rmp tests (contiguous and segmented).
#pragma once

#include <memory>
#include <ostream>
#include <utility>
#include <vector>

#include "emu/mem/memory.h"
#include "rmp/rmp.h"

namespace snpemu::rmp {
// gtest printers (found by ADL).
inline void PrintTo(const InsnResult& r, std::ostream* os) { *os << r.to_string(); }
inline void PrintTo(const RmpEntry& e, std::ostream* os) { *os << e.to_string(); }
inline void PrintTo(const AccessResult& r, std::ostream* os) {
  *os << "check " << int(r.check) << " " << (r.fault ? r.fault->to_string() : "allowed");
}
}  // namespace snpemu::rmp

namespace snpemu::rmp::testing {

enum class Layout { kContiguous, kSegmented };
/// kDirect: the Rmp is created on untouched memory, so Memory backs every table contiguously
/// (Rmp::direct_lookup()). kTouchedFirst: table pages are allocated before Rmp::create, so
/// Memory refuses those tables and lookup() reads them through Memory's pages: contiguous, the
/// whole table; segmented, the tables of segments 6, 9, 12, ... (segments 0-4 stay in the
/// window, the others on their own reservations).
enum class Backing { kDirect, kTouchedFirst };

/// A Memory plus an Rmp, and the page ranges a reference model needs to mirror it.
struct RmpMachine {
  std::unique_ptr<Memory> mem;
  std::optional<Rmp> rmp;
  std::vector<std::pair<uint64_t, uint64_t>> covered;    // [first, end) PFNs with entries
  std::vector<std::pair<uint64_t, uint64_t>> rmp_pages;  // [first, end) PFNs of RMP structures
};

inline constexpr uint64_t kSyscfg = kSyscfgSnpEn;
/// Segmented layout used by tests: CPUID min shift 21, max 40; RMP_CFG shift 21 (2 MiB per
/// segment, so each RST entry maps one 2 MiB region).
inline constexpr SegmentedRmpCpuid kCpuid{21u | (40u << 6), 0};

/// Contiguous: 512 MiB of RAM, the RMP (bookkeeping + entries) in the top 4 MiB.
/// Segmented: 1 GiB of RAM; segments 0..255 map the low 512 MiB except segment 5 (a hole);
/// segment i's table at 512 MiB + i MiB; bookkeeping + RST at 0x3000_0000.
RmpMachine make_machine(Layout layout, Backing backing = Backing::kDirect);

/// Pages used by the instruction tests: covered in both layouts, away from the RMP itself.
inline constexpr uint64_t kRegion = 512 * 2;       // PFN of a 2 MiB-aligned covered region
inline constexpr uint64_t kGuestGpaBase = 0x1'0000'0000;
/// Canonical GPA of host page `pfn` in the tests' guests (2 MiB aligned for 2 MiB heads).
constexpr uint64_t gpa_for(uint64_t pfn) { return kGuestGpaBase + (pfn << 12); }

/// RMPUPDATE input helpers (PLATFORM-FACTS 4.3: Linux "make private" / "make shared").
inline RmpStateView private_state(uint64_t gpa, uint32_t asid, bool big = false,
                                  bool immutable = false) {
  RmpStateView s;
  s.gpa = gpa;
  s.assigned = 1;
  s.pagesize = big ? 1 : 0;
  s.immutable = immutable ? 1 : 0;
  s.asid = asid;
  return s;
}
inline RmpStateView shared_state(bool big = false) {
  RmpStateView s;
  s.pagesize = big ? 1 : 0;
  return s;
}

/// Outcome shorthands.
inline InsnResult ok(bool cf = false) { return InsnResult{RmpRc::kSuccess, cf, std::nullopt}; }
inline InsnResult fail(RmpRc rc) { return InsnResult{rc, false, std::nullopt}; }
/// #NPF raised by PVALIDATE/RMPADJUST: P | RMP | GUEST_FINAL | ENC (+ SIZEM).
inline InsnResult insn_npf(uint64_t gpa, bool sizem = false) {
  return InsnResult{RmpRc::kSuccess, false,
                    Fault{Fault::Kind::kNpf,
                          npf::kPresent | npf::kRmp | npf::kGuestFinal | npf::kEnc |
                              (sizem ? npf::kSizem : 0),
                          gpa}};
}

}  // namespace snpemu::rmp::testing
