// rmp/host_insn.cc: RMPUPDATE, PSMASH, RMPREAD (host, CPL0). PLATFORM-FACTS 4.3 / 4.4 / 4.2.
#include <algorithm>

#include "rmp/internal.h"

namespace snpemu::rmp {

using detail::kPagesPer2M;
using detail::rc;

namespace detail {

RegionScan scan_region(const Rmp& rmp, Pfn head) {
  RegionScan s;
  auto account = [&s](uint64_t lo) {
    if ((lo & raw::kAssigned) == 0) return;
    s.any_assigned = true;
    if ((lo & raw::kPageSize2M) == 0) s.any_assigned_4k = true;
    if ((lo & raw::kImmutable) != 0) s.any_immutable = true;
  };
  const std::optional<Hpa> first = rmp.entry_address(head);
  const std::optional<Hpa> last = rmp.entry_address(Pfn{head.value + kPagesPer2M - 1});
  if (first && last && last->value - first->value == (kPagesPer2M - 1) * kRmpEntrySize) {
    // Contiguous 8 KiB of entries: 16-byte aligned, so whole pages of 256 entries.
    for (uint64_t at = first->value; at <= last->value; at += kPageSize) {
      const uint64_t page_start = at & ~kPageOffsetMask;
      const uint8_t* page = rmp.memory().page_pointer_if_present(pfn_of(Hpa{page_start}));
      const uint64_t begin = at - page_start;
      const uint64_t end = std::min<uint64_t>(kPageSize, last->value + kRmpEntrySize - page_start);
      if (page != nullptr) {
        for (uint64_t off = begin; off < end; off += kRmpEntrySize) {
          uint64_t lo;
          std::memcpy(&lo, page + off, 8);
          account(lo);
        }
      }
      at = page_start;  // continue from the next page start
    }
    return s;
  }
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    if (auto e = rmp.lookup(Pfn{head.value + i})) account(e->lo);
  }
  return s;
}

}  // namespace detail

InsnResult rmpupdate(Rmp& rmp, Hpa hpa, const RmpStateView& s) {
  const bool big = s.pagesize == 1;
  const uint64_t count = big ? kPagesPer2M : 1;
  const Pfn pfn = pfn_of(hpa);
  // FAIL_INPUT: alignment, coverage, malformed state. UNCONFIRMED details listed in rmp.h.
  if ((hpa.value & kPageOffsetMask) != 0) return rc(RmpRc::kFailInput);
  if (big && (hpa.value & detail::k2MMask) != 0) return rc(RmpRc::kFailInput);
  if (!rmp.covers(pfn, count)) return rc(RmpRc::kFailInput);
  if (s.pagesize > 1 || s.assigned > 1 || s.immutable > 1 || s.rsvd != 0) {
    return rc(RmpRc::kFailInput);
  }
  if (s.asid > raw::kAsidMax || (s.gpa & ~raw::kGpaMask) != 0) return rc(RmpRc::kFailInput);
  if (big && (s.gpa & detail::k2MMask) != 0) return rc(RmpRc::kFailInput);
  if (s.assigned == 0 && (s.gpa != 0 || s.asid != 0 || s.immutable != 0)) {
    return rc(RmpRc::kFailInput);
  }
  // FAIL_PERMISSION: immutable entries [L KVM comment] and RMP pages (UNCONFIRMED).
  // FAIL_INUSE: a running VMSA [AMD-eng]. FAIL_OVERLAP: 4K/2M overlap [L-patch, sev.h].
  if (!big) {
    const RawRmpEntry cur = *rmp.lookup(pfn);
    if ((cur.lo & raw::kImmutable) != 0 || rmp.is_rmp_page(pfn)) return rc(RmpRc::kFailPermission);
    if (rmp.vmsa_in_use(pfn)) return rc(RmpRc::kFailInuse);
    if ((cur.lo & raw::kAssigned) != 0 && (cur.lo & raw::kPageSize2M) != 0) {
      return rc(RmpRc::kFailOverlap);
    }
  } else {
    const detail::RegionScan scan = detail::scan_region(rmp, pfn);
    if (scan.any_immutable || rmp.region_has_rmp_page(pfn)) return rc(RmpRc::kFailPermission);
    if (rmp.any_in_use(pfn, count)) return rc(RmpRc::kFailInuse);
    if (scan.any_assigned_4k) return rc(RmpRc::kFailOverlap);
  }
  // Success: new ownership; Validated, VMSA and permissions cleared (UNCONFIRMED, VeriSMo).
  RmpEntry e;
  if (s.assigned != 0) {
    e.assigned = true;
    e.page_size = big ? PageSize::k2M : PageSize::k4K;
    e.immutable = s.immutable != 0;
    e.asid = Asid{s.asid};
  }
  for (uint64_t i = 0; i < count; ++i) {
    e.gpa = Gpa{s.assigned != 0 ? s.gpa + i * kPageSize : 0};
    rmp.store(Pfn{pfn.value + i}, e);
  }
  return rc(RmpRc::kSuccess);
}

InsnResult psmash(Rmp& rmp, Hpa hpa) {
  const Pfn pfn = pfn_of(hpa);
  if ((hpa.value & detail::k2MMask) != 0) return rc(RmpRc::kFailInput);
  if (!rmp.covers(pfn, kPagesPer2M)) return rc(RmpRc::kFailBadAddr);  // UNCONFIRMED
  const RmpEntry head = rmp.entry(pfn);
  if (!head.assigned || head.page_size != PageSize::k2M) return rc(RmpRc::kFailInput);
  if (head.immutable) return rc(RmpRc::kFailPermission);  // UNCONFIRMED
  if (rmp.any_in_use(pfn, kPagesPer2M)) return rc(RmpRc::kFailInuse);
  // PLATFORM-FACTS 4.4: all attributes kept, GPA + i * 4K (UNCONFIRMED wording).
  RmpEntry e = head;
  e.page_size = PageSize::k4K;
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    e.gpa = Gpa{head.gpa.value + i * kPageSize};
    rmp.store(Pfn{pfn.value + i}, e);
  }
  return rc(RmpRc::kSuccess);
}

RmpReadResult rmpread(const Rmp& rmp, Hpa hpa) {
  const std::optional<RawRmpEntry> r = rmp.lookup(pfn_of(hpa));
  if (!r) return {rc(RmpRc::kFailInput), RmpStateView{}};
  const RmpEntry e = decode(*r);
  RmpStateView v;
  v.gpa = e.gpa.value;
  v.assigned = e.assigned ? 1 : 0;
  v.pagesize = e.page_size == PageSize::k2M ? 1 : 0;  // bit 1 (2M region status): 0, UNCONFIRMED
  v.immutable = e.immutable ? 1 : 0;
  v.asid = e.asid.value;
  return {rc(RmpRc::kSuccess), v};
}

}  // namespace snpemu::rmp
