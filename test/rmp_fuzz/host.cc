// test/rmp_fuzz/host.cc: the malicious hypervisor (ASID 0, CPL0): RMP instructions with arbitrary
// operands and host-physical reads/writes through 4K, 2M and 1G mappings.
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "test/rmp_fuzz/actors.h"

namespace snpemu::rmp::fuzz {
namespace {

constexpr uint64_t k2MMask = kLargePageSize - 1;

// A host access as the MMU issues it: one piece per page touched (the RMP check takes one HPA).
struct Piece {
  uint64_t hpa;
  size_t at;  // offset in the access's buffer
  size_t len;
};
std::vector<Piece> split(uint64_t hpa, size_t len) {
  std::vector<Piece> pieces;
  size_t at = 0;
  while (at < len) {
    const uint64_t pa = hpa + at;
    const size_t room = kPageSize - (pa & kPageOffsetMask);
    const size_t n = len - at < room ? len - at : room;
    pieces.push_back({pa, at, n});
    at += n;
  }
  return pieces;
}

}  // namespace

uint64_t Actors::pick_pfn() {
  constexpr uint64_t kSmall[8] = {0, 1, 2, 3, 255, 256, 510, 511};
  const uint64_t sel = in.take(1);
  const uint64_t r = in.take(2);
  const uint64_t pages = layout.pages();
  switch (sel & 7) {
    case 0:
    case 1:
      if (!shadow.recent().empty()) {
        return shadow.recent()[r % shadow.recent().size()] + ((sel >> 3) & 1 ? (r >> 8) % 3 : 0);
      }
      [[fallthrough]];
    case 2:
    case 3:
    case 4: {
      const uint64_t region = (r >> 9) % ((pages + kPagesPer2M - 1) / kPagesPer2M);
      return region * kPagesPer2M + ((sel & 0x80) != 0 ? r & 511 : kSmall[r & 7]);
    }
    case 5:
      return r % pages;
    case 6: {
      const PfnRange& range = layout.rmp_pages[r % layout.rmp_pages.size()];
      return range.first + (r >> 4) % (range.end - range.first);
    }
    default:
      return (sel & 0x40) != 0 ? pages + r % 1024 : in.take(8) >> kPageShift;
  }
}

MappingSize Actors::pick_mapping(uint64_t pfn) {
  const uint64_t m = in.take(1) % 8;
  if (m < 4) return shadow.page(pfn).big ? MappingSize::k2M : MappingSize::k4K;
  if (m == 4) return shadow.page(pfn).big ? MappingSize::k1G : MappingSize::k4K;
  return static_cast<MappingSize>(m - 5);
}

void host_rmpupdate(Actors& a) {
  const uint64_t f = a.in.take(1);
  const bool big = (f & 3) == 0;
  uint64_t pfn = a.pick_pfn();
  if (big && (f & 0x0C) != 0) pfn &= ~(kPagesPer2M - 1);
  uint64_t hpa = pfn << kPageShift;
  RmpStateView s;
  s.pagesize = big ? 1 : 0;
  const uint64_t kind = a.in.take(1);
  if (kind % 4 != 0) {  // Linux "make private" [L]
    constexpr uint32_t kAsids[8] = {1, 2, 3, 1, 2, 3, 0, 1023};
    s.assigned = 1;
    s.asid = kAsids[(kind >> 2) & 7];
    s.gpa = kGpaBase + (hpa & (big ? ~k2MMask : ~kPageOffsetMask));
    s.immutable = (kind >> 5) == 7 && (f & 0x40) != 0 ? 1 : 0;
  }
  const uint64_t g = a.in.take(1);
  if (g < 16) {  // malformed operands
    switch (g & 7) {
      case 0:
        s.rsvd = static_cast<uint8_t>(1 + (g >> 3));
        break;
      case 1:
        s.pagesize = static_cast<uint8_t>(2 + (g >> 3));
        break;
      case 2:
        s.asid = 1024 + static_cast<uint32_t>(g);
        break;
      case 3:
        s.gpa = a.in.take(8);
        break;
      case 4:
        s.assigned = static_cast<uint8_t>(2 + g);
        break;
      case 5:
        hpa += (f & 0x80) != 0 ? kPageSize : a.in.take(2) & kPageOffsetMask;
        break;
      case 6:
        s.gpa += 0x1000;
        s.asid = static_cast<uint32_t>(a.in.take(4));
        break;
      default:
        s.immutable = static_cast<uint8_t>(1 + (g >> 3));
        break;
    }
  }
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc,
                "hypervisor RMPUPDATE hpa 0x%" PRIx64 " gpa 0x%" PRIx64
                " assigned %u pagesize %u immutable %u rsvd %u asid %u",
                hpa, s.gpa, s.assigned, s.pagesize, s.immutable, s.rsvd, s.asid);
  const InsnResult r = rmpupdate(a.rmp, Hpa{hpa}, s);
  a.shadow.touch(pfn);
  if (r.fault || r.cf)
    fail(a.ctx, "RMPUPDATE returned %s (no fault, CF 0 expected)", r.to_string().c_str());
  if (r.rc != RmpRc::kSuccess) return;
  // PLATFORM-FACTS 4.3 [L]: aligned, covered, well-formed input.
  const uint64_t first = hpa >> kPageShift;
  const uint64_t count = s.pagesize == 1 ? kPagesPer2M : 1;
  if ((hpa & (count > 1 ? k2MMask : kPageOffsetMask)) != 0 || s.pagesize > 1 || s.assigned > 1 ||
      s.immutable > 1 || s.rsvd != 0 || s.asid > raw::kAsidMax || (s.gpa & ~raw::kGpaMask) != 0 ||
      (count > 1 && (s.gpa & k2MMask) != 0)) {
    fail(a.ctx,
         "RMPUPDATE succeeded on malformed operands (FAIL_INPUT expected, PLATFORM-FACTS 4.3)");
  }
  for (uint64_t p = first; p < first + count; ++p) {
    const ShadowPage& sp = a.shadow.page(p);
    if (!a.shadow.in_ram(p) || !a.shadow.covered(p)) {
      fail(a.ctx, "RMPUPDATE succeeded on uncovered pfn 0x%" PRIx64, p);
    }
    if (a.shadow.is_rmp_page(p))
      fail(a.ctx, "RMPUPDATE changed the entry of RMP page pfn 0x%" PRIx64, p);
    if (sp.immutable) {
      fail(a.ctx,
           "RMPUPDATE changed immutable pfn 0x%" PRIx64
           " (PLATFORM-FACTS 4.3: immutable "
           "until SNP_PAGE_RECLAIM)",
           p);
    }
    if (a.shadow.in_use(p)) {
      fail(a.ctx,
           "RMPUPDATE changed the running VMSA pfn 0x%" PRIx64
           " (FAIL_INUSE expected, "
           "PLATFORM-FACTS 4.3)",
           p);
    }
    // FAIL_OVERLAP [L-patch]: a 4K update inside a 2M page, or a 2M update over a 4K page.
    if (sp.assigned && sp.big != (count > 1)) {
      fail(a.ctx,
           "RMPUPDATE %s overlapped the %s page at pfn 0x%" PRIx64 " (FAIL_OVERLAP expected)",
           count > 1 ? "2M" : "4K", sp.big ? "2M" : "4K", p);
    }
  }
  a.shadow.apply_rmpupdate(first, s);
}

void host_psmash(Actors& a) {
  const uint64_t f = a.in.take(1);
  uint64_t pfn = a.pick_pfn();
  if ((f & 7) != 0) pfn &= ~(kPagesPer2M - 1);
  const uint64_t hpa = (pfn << kPageShift) | ((f & 0xF8) == 0xF8 ? 0x800 : 0);
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc, "hypervisor PSMASH hpa 0x%" PRIx64, hpa);
  const InsnResult r = psmash(a.rmp, Hpa{hpa});
  a.shadow.touch(pfn);
  if (r.fault || r.cf)
    fail(a.ctx, "PSMASH returned %s (no fault, CF 0 expected)", r.to_string().c_str());
  if (r.rc != RmpRc::kSuccess) return;
  const ShadowPage& head = a.shadow.page(pfn);
  if ((hpa & k2MMask) != 0 || !head.assigned || !head.big) {
    fail(a.ctx,
         "PSMASH succeeded on hpa 0x%" PRIx64
         " that is not the head of an assigned 2M page "
         "(PLATFORM-FACTS 4.4)",
         hpa);
  }
  for (uint64_t p = pfn; p < pfn + kPagesPer2M; ++p) {
    if (a.shadow.in_use(p)) {
      fail(a.ctx,
           "PSMASH split a 2M page holding the running VMSA pfn 0x%" PRIx64
           " (FAIL_INUSE expected, PLATFORM-FACTS 4.4)",
           p);
    }
  }
  a.shadow.apply_psmash(pfn);
}

void host_rmpread(Actors& a) {
  const uint64_t pfn = a.pick_pfn();
  const uint64_t hpa = (pfn << kPageShift) | (a.in.take(1) << 4);
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc, "hypervisor RMPREAD hpa 0x%" PRIx64, hpa);
  const RmpReadResult r = rmpread(a.rmp, Hpa{hpa});
  a.shadow.touch(pfn);
  const bool covered = a.shadow.in_ram(pfn) && a.shadow.covered(pfn);
  if (r.result.fault || (r.result.rc == RmpRc::kSuccess) != covered) {
    fail(a.ctx, "RMPREAD returned %s; expected %s", r.result.to_string().c_str(),
         covered ? "success" : "FAIL_INPUT (uncovered)");
  }
  if (!covered) return;
  const ShadowPage& p = a.shadow.page(pfn);
  RmpStateView want;  // PLATFORM-FACTS 4.2 [L]: the architected view
  want.gpa = p.gpa;
  want.assigned = p.assigned ? 1 : 0;
  want.pagesize = p.big ? 1 : 0;
  want.immutable = p.immutable ? 1 : 0;
  want.asid = p.asid;
  if (r.view != want) {
    fail(a.ctx,
         "RMPREAD view: expected gpa 0x%" PRIx64 " a%u s%u i%u asid %u, got gpa 0x%" PRIx64
         " a%u s%u i%u r%u asid %u",
         want.gpa, want.assigned, want.pagesize, want.immutable, want.asid, r.view.gpa,
         r.view.assigned, r.view.pagesize, r.view.immutable, r.view.rsvd, r.view.asid);
  }
}

void host_read(Actors& a) {
  const uint64_t f = a.in.take(1);
  const uint64_t pfn = a.pick_pfn();
  const uint64_t hpa = (pfn << kPageShift) + (a.in.take(2) & kPageOffsetMask);
  const size_t len = 1 + (f & 15);
  const AccessType type = (f & 0x10) != 0 ? AccessType::kExecute : AccessType::kRead;
  const auto mapping = static_cast<MappingSize>((f >> 5) % 3);
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc, "hypervisor %s hpa 0x%" PRIx64 " len %zu map %d",
                type == AccessType::kRead ? "read" : "fetch", hpa, len, int(mapping));
  a.shadow.touch(pfn);
  for (const Piece& piece : split(hpa, len)) {
    const AccessResult r =
        check_host_access(a.rmp, HostAccess{Hpa{piece.hpa}, type, false, mapping});
    if (r.fault) return;  // a refused read reveals nothing
    uint8_t got[16], want[16];
    const bool inside = a.mem.contains(Hpa{piece.hpa}, piece.len);
    const bool ok = a.mem.read(Hpa{piece.hpa}, std::span<uint8_t>(got, piece.len)).has_value();
    if (ok != inside)
      fail(a.ctx, "Memory read at 0x%" PRIx64 ": ok %d, inside RAM %d", piece.hpa, ok, inside);
    if (!ok || a.shadow.is_rmp_page(piece.hpa >> kPageShift)) continue;
    a.shadow.expected_bytes(piece.hpa, std::span<uint8_t>(want, piece.len));
    for (size_t i = 0; i < piece.len; ++i) {
      if (got[i] != want[i]) {
        fail(a.ctx, "host read: expected byte 0x%02x at hpa 0x%" PRIx64 ", got 0x%02x", want[i],
             piece.hpa + i, got[i]);
      }
    }
  }
}

void host_write(Actors& a) {
  const uint64_t f = a.in.take(1);
  const uint64_t pfn = a.pick_pfn();
  const uint64_t hpa = (pfn << kPageShift) + (a.in.take(2) & kPageOffsetMask);
  const size_t len = 1 + (f & 15);
  const auto mapping = static_cast<MappingSize>((f >> 4) % 3);
  const bool user = (f & 0x80) != 0;
  uint8_t bytes[16];
  const uint64_t v = a.in.take(1);
  for (size_t i = 0; i < len; ++i) bytes[i] = static_cast<uint8_t>(v + 0x3B * i + 1);
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc,
                "hypervisor write hpa 0x%" PRIx64 " len %zu map %d user %d", hpa, len, int(mapping),
                user);
  a.shadow.touch(pfn);
  const std::vector<Piece> pieces = split(hpa, len);
  for (const Piece& piece : pieces) {
    const uint64_t p = piece.hpa >> kPageShift;
    const AccessResult r =
        check_host_access(a.rmp, HostAccess{Hpa{piece.hpa}, AccessType::kWrite, user, mapping});
    // PLATFORM-FACTS 4.7 [L]: the page (4K mapping) or its whole 2 MiB region (2M/1G) must hold
    // no assigned entry; RMP pages are firmware pages (rmp.h, UNCONFIRMED).
    bool region_assigned = false;
    if (mapping != MappingSize::k4K) {
      const uint64_t head = p & ~(kPagesPer2M - 1);
      for (uint64_t q = head; q < head + kPagesPer2M; ++q)
        region_assigned |= a.shadow.page(q).assigned;
    }
    const bool must_refuse = a.shadow.page(p).assigned || a.shadow.is_rmp_page(p) ||
                             region_assigned ||
                             (mapping != MappingSize::k4K && a.shadow.region_has_rmp_page(p));
    if (!r.fault) {
      if (a.shadow.is_rmp_page(p)) fail(a.ctx, "host write allowed on RMP page pfn 0x%" PRIx64, p);
      if (a.shadow.page(p).assigned) {
        fail(a.ctx, "host write allowed on assigned page pfn 0x%" PRIx64 " (asid %u)", p,
             a.shadow.page(p).asid);
      }
      if (must_refuse) {
        fail(a.ctx,
             "host write through a 2M/1G mapping allowed at 0x%" PRIx64
             " in a region "
             "holding an assigned or RMP page (PLATFORM-FACTS 4.7 [L])",
             piece.hpa);
      }
      continue;
    }
    const uint64_t want_code =
        hostpf::kPresent | hostpf::kWrite | hostpf::kRmp | (user ? hostpf::kUser : 0);
    if (!must_refuse || r.fault->kind != Fault::Kind::kHostPf || r.fault->error_code != want_code ||
        r.fault->address != piece.hpa) {
      fail(a.ctx, "host write at 0x%" PRIx64 ": expected %s, got %s", piece.hpa,
           must_refuse ? "#PF P|W|RMP" : "no fault (page and region unassigned)",
           r.fault->to_string().c_str());
    }
    return;  // the write faults: nothing is written
  }
  for (const Piece& piece : pieces) {
    const bool inside = a.mem.contains(Hpa{piece.hpa}, piece.len);
    const std::span<const uint8_t> b(bytes + piece.at, piece.len);
    const bool ok = a.mem.write(Hpa{piece.hpa}, b).has_value();
    if (ok != inside)
      fail(a.ctx, "Memory write at 0x%" PRIx64 ": ok %d, inside RAM %d", piece.hpa, ok, inside);
    if (ok) a.shadow.record_write(piece.hpa, b);
  }
}

void host_vmsa_in_use(Actors& a) {
  const uint64_t f = a.in.take(1);
  const std::vector<uint64_t>& running = a.shadow.in_use_list();
  if ((f & 1) != 0 && !running.empty()) {  // #VMEXIT
    const uint64_t pfn = running[(f >> 1) % running.size()];
    std::snprintf(a.ctx.desc, sizeof a.ctx.desc,
                  "hypervisor #VMEXIT clears VMSA pfn 0x%" PRIx64 " in use", pfn);
    a.rmp.set_vmsa_in_use(Pfn{pfn}, false);
    a.shadow.set_in_use(pfn, false);
    return;
  }
  // VMRUN: only a page the RMP marks as a VMSA (else VMEXIT_INVALID, PLATFORM-FACTS 4.7
  // [AMD-eng]); at most 4 vCPUs run.
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc, "hypervisor VMRUN (no VMSA page to run)");
  if (running.size() >= 4) return;
  const std::vector<uint64_t>& recent = a.shadow.recent();
  for (size_t i = 0; i < recent.size(); ++i) {
    const uint64_t pfn = recent[(i + (f >> 1)) % recent.size()];
    const ShadowPage& p = a.shadow.page(pfn);
    if (!p.assigned || !p.vmsa || a.shadow.in_use(pfn)) continue;
    std::snprintf(a.ctx.desc, sizeof a.ctx.desc,
                  "hypervisor VMRUN marks VMSA pfn 0x%" PRIx64 " in use", pfn);
    a.rmp.set_vmsa_in_use(Pfn{pfn}, true);
    a.shadow.set_in_use(pfn, true);
    return;
  }
}

}  // namespace snpemu::rmp::fuzz
