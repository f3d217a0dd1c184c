// test/rmp/reference_model.cc: the naive reference RMP. Every rule is written out per page.
#include "test/rmp/reference_model.h"

namespace snpemu::rmp::testing {
namespace {

constexpr uint64_t k4K = 4096;
constexpr uint64_t k2M = 2 * 1024 * 1024;

InsnResult code(RmpRc rc, bool cf = false) { return InsnResult{rc, cf, std::nullopt}; }

InsnResult npf(uint64_t gpa, bool sizem) {
  uint64_t bits = (1ull << 0) | (1ull << 32) | (1ull << 34) | (1ull << 31);
  if (sizem) bits |= 1ull << 35;
  return InsnResult{RmpRc::kSuccess, false, Fault{Fault::Kind::kNpf, bits, gpa}};
}

}  // namespace

bool ReferenceRmp::covered(uint64_t pfn) const {
  for (auto [first, end] : covered_) {
    if (pfn >= first && pfn < end) return true;
  }
  return false;
}

bool ReferenceRmp::is_rmp_page(uint64_t pfn) const {
  for (auto [first, end] : rmp_pages_) {
    if (pfn >= first && pfn < end) return true;
  }
  return false;
}

void ReferenceRmp::put(uint64_t pfn, const RefPage& p) {
  if (!p.assigned) {
    pages_.erase(pfn);  // unassigned pages are stored as all-zero
  } else {
    pages_[pfn] = p;
  }
}

RmpEntry ReferenceRmp::entry(uint64_t pfn) const {
  const RefPage p = page(pfn);
  RmpEntry e;
  e.assigned = p.assigned;
  e.page_size = p.big ? PageSize::k2M : PageSize::k4K;
  e.immutable = p.immutable;
  e.validated = p.validated;
  e.vmsa = p.vmsa;
  e.asid = Asid{p.asid};
  e.gpa = Gpa{p.gpa};
  e.vmpl_perms = {p.perms[1], p.perms[2], p.perms[3]};
  return e;
}

InsnResult ReferenceRmp::rmpupdate(uint64_t hpa, const RmpStateView& s) {
  const bool big = s.pagesize == 1;
  const uint64_t n = big ? 512 : 1;
  const uint64_t first = hpa / k4K;
  if (hpa % k4K != 0) return code(RmpRc::kFailInput);
  if (big && hpa % k2M != 0) return code(RmpRc::kFailInput);
  for (uint64_t i = 0; i < n; ++i) {
    if (!covered(first + i)) return code(RmpRc::kFailInput);
  }
  if (s.pagesize > 1 || s.assigned > 1 || s.immutable > 1 || s.rsvd != 0) {
    return code(RmpRc::kFailInput);
  }
  if (s.asid > 1023) return code(RmpRc::kFailInput);
  if (s.gpa % k4K != 0 || s.gpa >= (1ull << 51)) return code(RmpRc::kFailInput);
  if (big && s.gpa % k2M != 0) return code(RmpRc::kFailInput);
  if (!s.assigned && (s.gpa != 0 || s.asid != 0 || s.immutable != 0)) {
    return code(RmpRc::kFailInput);
  }
  for (uint64_t i = 0; i < n; ++i) {
    if (page(first + i).immutable || is_rmp_page(first + i)) return code(RmpRc::kFailPermission);
  }
  for (uint64_t i = 0; i < n; ++i) {
    if (in_use_.count(first + i)) return code(RmpRc::kFailInuse);
  }
  for (uint64_t i = 0; i < n; ++i) {
    const RefPage p = page(first + i);
    if (!big && p.assigned && p.big) return code(RmpRc::kFailOverlap);
    if (big && p.assigned && !p.big) return code(RmpRc::kFailOverlap);
  }
  for (uint64_t i = 0; i < n; ++i) {
    RefPage p;
    if (s.assigned) {
      p.assigned = true;
      p.big = big;
      p.immutable = s.immutable != 0;
      p.asid = s.asid;
      p.gpa = s.gpa + i * k4K;
    }
    put(first + i, p);
  }
  return code(RmpRc::kSuccess);
}

InsnResult ReferenceRmp::psmash(uint64_t hpa) {
  if (hpa % k2M != 0) return code(RmpRc::kFailInput);
  const uint64_t first = hpa / k4K;
  for (uint64_t i = 0; i < 512; ++i) {
    if (!covered(first + i)) return code(RmpRc::kFailBadAddr);
  }
  const RefPage head = page(first);
  if (!head.assigned || !head.big) return code(RmpRc::kFailInput);
  if (head.immutable) return code(RmpRc::kFailPermission);
  for (uint64_t i = 0; i < 512; ++i) {
    if (in_use_.count(first + i)) return code(RmpRc::kFailInuse);
  }
  for (uint64_t i = 0; i < 512; ++i) {
    RefPage p = head;
    p.big = false;
    p.gpa = head.gpa + i * k4K;
    put(first + i, p);
  }
  return code(RmpRc::kSuccess);
}

RmpReadResult ReferenceRmp::rmpread(uint64_t hpa) const {
  const uint64_t pfn = hpa / k4K;
  if (!covered(pfn)) return {code(RmpRc::kFailInput), RmpStateView{}};
  const RefPage p = page(pfn);
  RmpStateView v;
  v.gpa = p.gpa;
  v.assigned = p.assigned;
  v.pagesize = p.big;
  v.immutable = p.immutable;
  v.asid = p.asid;
  return {code(RmpRc::kSuccess), v};
}

InsnResult ReferenceRmp::pvalidate(uint32_t asid, uint8_t vmpl, uint64_t va, uint64_t gpa,
                                   uint64_t hpa, MappingSize mapping, bool big, bool validate) {
  if (vmpl != 0) return code(RmpRc::kFailPermission);
  if (big && va % k2M != 0) return code(RmpRc::kFailInput);
  const uint64_t pfn = hpa / k4K;
  const RefPage p = page(pfn);
  if (!covered(pfn) || !p.assigned || p.asid != asid || p.gpa != gpa / k4K * k4K) {
    return npf(gpa, false);
  }
  if (big && (mapping == MappingSize::k4K || !p.big)) return code(RmpRc::kFailSizeMismatch);
  if (!big && p.big) return npf(gpa, true);
  if (p.validated == validate) return code(RmpRc::kSuccess, true);
  const uint64_t first = big ? pfn / 512 * 512 : pfn;
  for (uint64_t i = 0; i < (big ? 512u : 1u); ++i) {
    RefPage q = page(first + i);
    q.validated = validate;
    put(first + i, q);
  }
  return code(RmpRc::kSuccess);
}

InsnResult ReferenceRmp::rmpadjust(uint32_t asid, uint8_t vmpl, uint64_t va, uint64_t gpa,
                                   uint64_t hpa, MappingSize mapping, bool big, uint64_t attrs) {
  const uint64_t target = attrs & 0xFF;
  const uint8_t perms = (attrs >> 8) & 0xF;
  const bool vmsa = (attrs >> 16) & 1;
  if ((attrs & ~0x10FFFull) != 0) return code(RmpRc::kFailInput);
  if (target > 3) return code(RmpRc::kFailInput);
  if (big && va % k2M != 0) return code(RmpRc::kFailInput);
  if (big && vmsa) return code(RmpRc::kFailInput);
  if (target <= vmpl) return code(RmpRc::kFailPermission);
  const uint64_t pfn = hpa / k4K;
  const RefPage p = page(pfn);
  if (!covered(pfn) || !p.assigned || p.asid != asid || p.gpa != gpa / k4K * k4K) {
    return npf(gpa, false);
  }
  if (big && (mapping == MappingSize::k4K || !p.big)) return code(RmpRc::kFailSizeMismatch);
  if (!big && p.big) return npf(gpa, true);
  if ((perms & ~p.perms[vmpl]) != 0) return code(RmpRc::kFailPermission);
  if (vmpl != 0 && vmsa != p.vmsa) return code(RmpRc::kFailPermission);
  const uint64_t first = big ? pfn / 512 * 512 : pfn;
  for (uint64_t i = 0; i < (big ? 512u : 1u); ++i) {
    RefPage q = page(first + i);
    q.perms[target] = perms;
    q.vmsa = vmsa;
    put(first + i, q);
  }
  return code(RmpRc::kSuccess);
}

AccessResult ReferenceRmp::host_access(uint64_t hpa, AccessType type, bool user,
                                       MappingSize mapping) const {
  if (type != AccessType::kWrite) return {RmpCheck::kNone, std::nullopt};
  const uint64_t pfn = hpa / k4K;
  const bool small = mapping == MappingSize::k4K;
  const uint64_t first = small ? pfn : pfn / 512 * 512;
  bool refused = false;
  for (uint64_t i = 0; i < (small ? 1u : 512u); ++i) {
    if (page(first + i).assigned || is_rmp_page(first + i)) refused = true;
  }
  const RmpCheck check = small ? RmpCheck::kHostPage : RmpCheck::kHost2MRange;
  if (!refused) return {check, std::nullopt};
  const uint64_t err = 1 | 2 | (user ? 4 : 0) | (1ull << 31);
  return {check, Fault{Fault::Kind::kHostPf, err, hpa}};
}

AccessResult ReferenceRmp::guest_access(const GuestAccess& a) const {
  const uint64_t pfn = a.hpa.value / k4K;
  const RefPage p = page(pfn);
  uint64_t err = 1;
  err |= a.page_table_walk ? (1ull << 33) : (1ull << 32);
  if (a.user) err |= 4;
  if (a.type == AccessType::kWrite) err |= 2;
  if (a.type == AccessType::kExecute) err |= 16;
  const uint64_t rmp = 1ull << 31;
  auto fault = [&](uint64_t bits) { return Fault{Fault::Kind::kNpf, err | bits, a.gpa.value}; };
  if (!a.c_bit) {
    if (p.assigned || is_rmp_page(pfn)) return {RmpCheck::kGuestShared, fault(rmp)};
    return {RmpCheck::kGuestShared, std::nullopt};
  }
  err |= 1ull << 34;
  if (!covered(pfn) || !p.assigned || p.asid != a.ctx.asid.value ||
      p.gpa != a.gpa.value / k4K * k4K) {
    return {RmpCheck::kGuestPrivate, fault(rmp)};
  }
  const bool mapping_big = a.mapping != MappingSize::k4K;
  if (p.big != mapping_big) return {RmpCheck::kGuestPrivate, fault(rmp | (1ull << 35))};
  if (!p.validated) {
    return {RmpCheck::kGuestPrivate, Fault{Fault::Kind::kVc, 0x404, a.gpa.value}};
  }
  const uint8_t vmpl = a.ctx.vmpl.value;
  uint8_t need = 0;
  if (a.type == AccessType::kRead) need = 1;
  if (a.type == AccessType::kWrite) need = 2;
  if (a.type == AccessType::kExecute) need = a.user ? 4 : 8;
  const bool vmsa_write = vmpl != 0 && p.vmsa && a.type == AccessType::kWrite;
  const uint8_t have = vmpl <= 3 ? p.perms[vmpl] : 0;
  if ((have & need) == 0 || vmsa_write) {
    return {RmpCheck::kGuestPrivate, fault(rmp | (1ull << 36))};
  }
  return {RmpCheck::kGuestPrivate, std::nullopt};
}

}  // namespace snpemu::rmp::testing
