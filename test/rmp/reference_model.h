// test/rmp/reference_model.h: a deliberately simple second implementation of the RMP state
// machine (one std::map from host page to state), written from the rules in rmp/rmp.h and
// PLATFORM-FACTS 4, sharing no code with rmp/ except the result vocabulary. Tests only.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "rmp/rmp.h"

namespace snpemu::rmp::testing {

/// Per-page state; a missing map key means unassigned and all zero.
struct RefPage {
  bool assigned = false;
  bool big = false;  // part of a 2 MiB RMP page
  bool immutable = false;
  bool validated = false;
  bool vmsa = false;
  uint32_t asid = 0;
  uint64_t gpa = 0;
  uint8_t perms[4] = {0xF, 0, 0, 0};  // index = VMPL; VMPL0 always 0xF
};

class ReferenceRmp {
 public:
  /// `covered`: host page ranges [first, end) that have RMP entries; `rmp_pages`: ranges that hold
  /// the RMP itself (treated as firmware pages).
  ReferenceRmp(std::vector<std::pair<uint64_t, uint64_t>> covered,
               std::vector<std::pair<uint64_t, uint64_t>> rmp_pages)
      : covered_(std::move(covered)), rmp_pages_(std::move(rmp_pages)) {}

  InsnResult rmpupdate(uint64_t hpa, const RmpStateView& s);
  InsnResult psmash(uint64_t hpa);
  RmpReadResult rmpread(uint64_t hpa) const;
  InsnResult pvalidate(uint32_t asid, uint8_t vmpl, uint64_t va, uint64_t gpa, uint64_t hpa,
                       MappingSize mapping, bool big, bool validate);
  InsnResult rmpadjust(uint32_t asid, uint8_t vmpl, uint64_t va, uint64_t gpa, uint64_t hpa,
                       MappingSize mapping, bool big, uint64_t attrs);
  AccessResult host_access(uint64_t hpa, AccessType type, bool user, MappingSize mapping) const;
  AccessResult guest_access(const GuestAccess& a) const;
  void set_in_use(uint64_t pfn, bool in_use) {
    if (in_use) in_use_.insert(pfn); else in_use_.erase(pfn);
  }

  /// Firmware page reclaim: clears Immutable (test scaffolding, PLATFORM-FACTS 4.9).
  void reclaim(uint64_t pfn) {
    auto it = pages_.find(pfn);
    if (it != pages_.end()) it->second.immutable = false;
  }

  RefPage page(uint64_t pfn) const {
    auto it = pages_.find(pfn);
    return it == pages_.end() ? RefPage{} : it->second;
  }
  /// The page as the typed entry that rmp/ should hold.
  RmpEntry entry(uint64_t pfn) const;
  bool covered(uint64_t pfn) const;
  bool is_rmp_page(uint64_t pfn) const;

 private:
  void put(uint64_t pfn, const RefPage& p);
  std::vector<std::pair<uint64_t, uint64_t>> covered_;
  std::vector<std::pair<uint64_t, uint64_t>> rmp_pages_;
  std::map<uint64_t, RefPage> pages_;
  std::set<uint64_t> in_use_;
};

}  // namespace snpemu::rmp::testing
