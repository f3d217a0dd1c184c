// test/rmp_fuzz/shadow.cc: layouts, failure reports, the shadow and the after-every-step checks.
#include "test/rmp_fuzz/shadow.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace snpemu::rmp::fuzz {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// Raw bits rmp/ documents as reserved (rmp.h RawRmpEntry): low qword bits 11:3 and 63; high
// qword byte 0, bits 7:4 of bytes 1-3, bytes 4-7.
constexpr uint64_t kLoReserved = uint64_t{0xFF8} | (uint64_t{1} << 63);
constexpr uint64_t kHiReserved =
    ~((uint64_t{0xF} << 8) | (uint64_t{0xF} << 16) | (uint64_t{0xF} << 24));

std::string raw_text(const std::optional<RawRmpEntry>& r) {
  if (!r) return "uncovered";
  char buf[64];
  std::snprintf(buf, sizeof buf, "raw %016" PRIx64 ":%016" PRIx64, r->hi, r->lo);
  return buf;
}

}  // namespace

Layout make_layout(uint8_t selector) {
  Layout l;
  if ((selector & 1) == 0) {
    // Contiguous, PLATFORM-FACTS 4.1 [L]: 16 KiB bookkeeping then 16 bytes per page; the table
    // needs 0x4000 + 2051 * 16 < 0xC100 bytes, 64 KiB are reserved. Bases: top of RAM, inside
    // region 1, straddling regions 0/1, and at PA 0.
    constexpr uint64_t kBases[4] = {0x7F'0000, 0x2F'8000, 0x1F'8000, 0x0};
    // Bit 3: RAM ends 12 KiB into a fifth 2 MiB region (a region only partly covered).
    l.ram_size = 8 * kMiB + ((selector & 8) != 0 ? 3 * kPageSize : 0);
    const uint64_t base = kBases[(selector >> 1) & 3];
    const uint64_t end = base + 0xFFFF;
    l.msrs = RmpMsrs{kSyscfgSnpEn, base, end, 0};
    l.covered = {{0, l.pages()}};
    l.rmp_pages = {{base >> kPageShift, (end >> kPageShift) + 1}};
    std::snprintf(l.name, sizeof l.name,
                  "contiguous 0x%" PRIx64 " bytes, RMP 0x%" PRIx64 "-0x%" PRIx64, l.ram_size, base,
                  end);
    return l;
  }
  // Segmented, PLATFORM-FACTS 4.1 [L]: shift 21 (one 2 MiB region per segment), bookkeeping +
  // RST at 10 MiB; RST entries 0..4 map regions 0..4 (1 GiB capped to the 2 MiB coverage), one
  // optionally left unused (a hole); segment tables 1 MiB aligned (RST bits 51:20), segment 4's
  // optionally inside the region it maps. Regions 5..7 have no entries.
  l.ram_size = 16 * kMiB;
  l.segmented = true;
  const uint64_t base = 10 * kMiB;
  l.msrs = RmpMsrs{kSyscfgSnpEn, base, 0, kRmpCfgSegmented | (uint64_t{21} << 8)};
  l.cpuid = SegmentedRmpCpuid{21u | (40u << 6), 0};
  l.rmp_pages.push_back({base >> kPageShift, (base + 0x5000) >> kPageShift});
  const unsigned hole = (selector >> 1) & 7;
  const bool table_inside = ((selector >> 4) & 1) != 0;
  for (uint64_t i = 0; i < 5; ++i) {
    if (i == hole) continue;
    const uint64_t table = i == 4 && table_inside ? 9 * kMiB : 11 * kMiB + i * kMiB;
    l.rst.push_back({base + 0x4000 + i * 8, table | 1});
    l.covered.push_back({i * kPagesPer2M, (i + 1) * kPagesPer2M});
    l.rmp_pages.push_back({table >> kPageShift, (table >> kPageShift) + 2});
  }
  std::snprintf(l.name, sizeof l.name, "segmented 16 MiB, hole %u, segment 4 table %s", hole,
                table_inside ? "inside region 4" : "at 15 MiB");
  return l;
}

void fail(const StepContext& ctx, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr,
               "rmp_fuzz invariant broken: %s\n  at step %" PRIu64
               " (input offset %zu): %s\n"
               "  layout: %s\n  input: %zu bytes, fnv1a 0x%016" PRIx64
               " (standalone runs: the driver printed its seed above)\n",
               msg, ctx.step, ctx.offset, ctx.desc, ctx.layout ? ctx.layout->name : "?",
               ctx.input_size, ctx.input_hash);
  if (const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR"); dir != nullptr && ctx.input) {
    char path[512];
    std::snprintf(path, sizeof path, "%s/rmp_fuzz_crash_%016" PRIx64, dir, ctx.input_hash);
    if (FILE* f = std::fopen(path, "wb")) {
      std::fwrite(ctx.input, 1, ctx.input_size, f);
      std::fclose(f);
      std::fprintf(stderr, "  input saved to %s (replay: rmp_fuzz FILE)\n", path);
    }
  }
  std::abort();
}

RmpEntry ShadowPage::entry() const {
  RmpEntry e;
  e.assigned = assigned;
  e.page_size = big ? PageSize::k2M : PageSize::k4K;
  e.immutable = immutable;
  e.validated = validated;
  e.vmsa = vmsa;
  e.asid = Asid{asid};
  e.gpa = Gpa{gpa};
  e.vmpl_perms = perms;
  return e;
}

Shadow::Shadow(const Layout& layout, Memory& mem, Rmp& rmp, StepContext& ctx)
    : layout_(layout), mem_(mem), rmp_(rmp), ctx_(ctx) {}

bool Shadow::covered(uint64_t pfn) const {
  return std::any_of(layout_.covered.begin(), layout_.covered.end(),
                     [pfn](const PfnRange& r) { return r.contains(pfn); });
}

bool Shadow::is_rmp_page(uint64_t pfn) const {
  return std::any_of(layout_.rmp_pages.begin(), layout_.rmp_pages.end(),
                     [pfn](const PfnRange& r) { return r.contains(pfn); });
}

bool Shadow::region_has_rmp_page(uint64_t pfn) const {
  const uint64_t head = pfn & ~(kPagesPer2M - 1);
  return std::any_of(layout_.rmp_pages.begin(), layout_.rmp_pages.end(), [head](const PfnRange& r) {
    return r.first < head + kPagesPer2M && head < r.end;
  });
}

const ShadowPage& Shadow::page(uint64_t pfn) const {
  static const ShadowPage kUnassigned{};  // immutable: no mutable global state
  auto it = pages_.find(pfn);
  return it == pages_.end() ? kUnassigned : it->second;
}

ShadowPage* Shadow::mutable_page(uint64_t pfn) {
  if (!in_ram(pfn) || !covered(pfn)) fail(ctx_, "shadow update of uncovered pfn 0x%" PRIx64, pfn);
  return &pages_[pfn];
}

bool Shadow::in_use(uint64_t pfn) const {
  return std::find(in_use_.begin(), in_use_.end(), pfn) != in_use_.end();
}

void Shadow::note_recent(uint64_t pfn) {
  constexpr size_t kRecent = 24;
  if (recent_.size() < kRecent) {
    recent_.push_back(pfn);
  } else {
    recent_[recent_next_] = pfn;
    recent_next_ = (recent_next_ + 1) % kRecent;
  }
}

void Shadow::apply_rmpupdate(uint64_t pfn, const RmpStateView& s) {
  const uint64_t count = s.pagesize == 1 ? kPagesPer2M : 1;
  for (uint64_t i = 0; i < count; ++i) {
    ShadowPage p;  // Validated, VMSA, permissions cleared (rmp.h rmpupdate, UNCONFIRMED)
    if (s.assigned != 0) {
      p.assigned = true;
      p.big = s.pagesize == 1;
      p.immutable = s.immutable != 0;
      p.asid = s.asid;
      p.gpa = s.gpa + i * kPageSize;
    }
    *mutable_page(pfn + i) = p;
  }
  if (s.assigned != 0) {
    note_recent(pfn);
    if (count > 1) note_recent(pfn + 1 + (s.gpa >> 12) % (kPagesPer2M - 1));
  }
  touch(pfn);
}

void Shadow::apply_psmash(uint64_t head) {
  for (uint64_t i = 0; i < kPagesPer2M; ++i) mutable_page(head + i)->big = false;
  touch(head);
}

void Shadow::apply_pvalidate(uint64_t pfn, bool big, bool validate, uint32_t asid) {
  const uint64_t first = big ? pfn & ~(kPagesPer2M - 1) : pfn;
  for (uint64_t p = first; p < first + (big ? kPagesPer2M : 1); ++p) {
    ShadowPage* s = mutable_page(p);
    s->validated = validate;
    s->validated_by = validate ? asid : 0;
  }
  if (validate) note_recent(pfn);
  touch(pfn);
}

void Shadow::apply_rmpadjust(uint64_t pfn, bool big, unsigned target, uint8_t perms, bool vmsa) {
  const uint64_t first = big ? pfn & ~(kPagesPer2M - 1) : pfn;
  for (uint64_t p = first; p < first + (big ? kPagesPer2M : 1); ++p) {
    ShadowPage* s = mutable_page(p);
    s->perms[target - 1] = perms;
    s->vmsa = vmsa;
  }
  if (vmsa) note_recent(pfn);
  touch(pfn);
}

void Shadow::set_in_use(uint64_t pfn, bool in_use) {
  auto it = std::find(in_use_.begin(), in_use_.end(), pfn);
  if (in_use && it == in_use_.end()) in_use_.push_back(pfn);
  if (!in_use && it != in_use_.end()) in_use_.erase(it);
  touch(pfn);
}

void Shadow::expected_bytes(uint64_t hpa, std::span<uint8_t> out) const {
  auto it = contents_.find(hpa >> kPageShift);
  if (it == contents_.end()) {
    std::fill(out.begin(), out.end(), uint8_t{0});
    return;
  }
  std::memcpy(out.data(), it->second->data() + (hpa & kPageOffsetMask), out.size());
}

void Shadow::record_write(uint64_t hpa, std::span<const uint8_t> bytes) {
  auto& page = contents_[hpa >> kPageShift];
  if (!page) page = std::make_unique<std::array<uint8_t, kPageSize>>();  // zeroed
  std::memcpy(page->data() + (hpa & kPageOffsetMask), bytes.data(), bytes.size());
  touch(hpa >> kPageShift);
}

void Shadow::touch(uint64_t pfn) {
  if (in_ram(pfn)) touched_.push_back(pfn);
}

void Shadow::check_region(uint64_t head) {
  std::array<std::optional<RawRmpEntry>, kPagesPer2M> raws;
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    const uint64_t pfn = head + i;
    raws[i] = rmp_.lookup(Pfn{pfn});
    const std::optional<RawRmpEntry>& r = raws[i];
    if (r.has_value() != (in_ram(pfn) && covered(pfn))) {
      fail(ctx_, "pfn 0x%" PRIx64 " coverage: expected %s, got %s", pfn,
           covered(pfn) ? "an entry" : "no entry", raw_text(r).c_str());
    }
    if (!r) continue;
    // Self-consistency of one entry (rmp.h: reserved bits, unassigned stored as all-zero).
    if ((r->lo & kLoReserved) != 0 || (r->hi & kHiReserved) != 0) {
      fail(ctx_, "pfn 0x%" PRIx64 " entry has reserved bits set: %s", pfn, raw_text(r).c_str());
    }
    const RmpEntry e = decode(*r);
    if (!e.assigned && *r != RawRmpEntry{}) {
      fail(ctx_, "pfn 0x%" PRIx64 " unassigned entry is not all-zero: %s", pfn,
           raw_text(r).c_str());
    }
    if (e.assigned && is_rmp_page(pfn)) {
      fail(ctx_, "RMP page pfn 0x%" PRIx64 " is assigned (guest-writable): %s", pfn,
           e.to_string().c_str());
    }
  }
  // 2 MiB consistency (rmp.h model invariant): the region's head decides; a 2M page is 512
  // entries with one state and GPA head + i * 4 KiB; no 2M entry exists without its head.
  const RmpEntry h = raws[0] ? decode(*raws[0]) : RmpEntry{};
  const bool head_2m = h.assigned && h.page_size == PageSize::k2M;
  if (head_2m && (h.gpa.value & (kLargePageSize - 1)) != 0) {
    fail(ctx_, "2M head pfn 0x%" PRIx64 " has a GPA that is not 2 MiB aligned: %s", head,
         h.to_string().c_str());
  }
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    const RmpEntry e = raws[i] ? decode(*raws[i]) : RmpEntry{};
    const bool e_2m = e.assigned && e.page_size == PageSize::k2M;
    if (!head_2m) {
      if (e_2m) {
        fail(ctx_, "pfn 0x%" PRIx64 " is a 2M entry but its head pfn 0x%" PRIx64 " is %s", head + i,
             head, h.to_string().c_str());
      }
      continue;
    }
    RmpEntry want = h;
    want.gpa = Gpa{h.gpa.value + i * kPageSize};
    if (!raws[i] || e != want) {
      fail(ctx_,
           "2M page at pfn 0x%" PRIx64 " inconsistent at pfn 0x%" PRIx64 ": expected %s, got %s",
           head, head + i, want.to_string().c_str(), raws[i] ? e.to_string().c_str() : "uncovered");
    }
  }
  // Equality with the shadow (the effects of every successful instruction so far).
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    if (!raws[i]) continue;
    const RmpEntry want = page(head + i).entry();
    if (*raws[i] != encode(want)) {
      fail(ctx_, "expected entry %s at pfn 0x%" PRIx64 ", got %s (%s)", want.to_string().c_str(),
           head + i, decode(*raws[i]).to_string().c_str(), raw_text(raws[i]).c_str());
    }
  }
}

void Shadow::check_contents(uint64_t pfn) const {
  if (is_rmp_page(pfn) || !in_ram(pfn)) return;
  const uint8_t* got = mem_.page_pointer_if_present(Pfn{pfn});
  auto it = contents_.find(pfn);
  if (it == contents_.end()) {
    if (got != nullptr) fail(ctx_, "pfn 0x%" PRIx64 " is resident but no actor wrote it", pfn);
    return;
  }
  if (got == nullptr) fail(ctx_, "pfn 0x%" PRIx64 " was written but is not resident", pfn);
  const uint8_t* want = it->second->data();
  if (std::memcmp(got, want, kPageSize) != 0) {
    size_t at = 0;
    while (got[at] == want[at]) ++at;
    const ShadowPage& p = page(pfn);
    fail(ctx_,
         "expected byte 0x%02x at hpa 0x%" PRIx64
         ", got 0x%02x (page %s asid %u): "
         "contents changed without an allowed write",
         want[at], (pfn << kPageShift) + at, got[at], p.assigned ? "private" : "shared", p.asid);
  }
}

void Shadow::end_step(bool full) {
  std::vector<uint64_t> heads;
  if (full) {
    for (uint64_t h = 0; h < layout_.pages(); h += kPagesPer2M) heads.push_back(h);
  } else {
    for (uint64_t p : touched_) heads.push_back(p & ~(kPagesPer2M - 1));
    std::sort(heads.begin(), heads.end());
    heads.erase(std::unique(heads.begin(), heads.end()), heads.end());
  }
  for (uint64_t h : heads) check_region(h);
  if (full) {
    for (const auto& [pfn, bytes] : contents_) check_contents(pfn);
  } else {
    for (uint64_t p : touched_) check_contents(p);
  }
  // No page outside the RMP became resident except through a recorded write.
  uint64_t rmp_resident = 0;
  for (const PfnRange& r : layout_.rmp_pages) {
    for (uint64_t p = r.first; p < r.end; ++p)
      rmp_resident += mem_.page_pointer_if_present(Pfn{p}) != nullptr;
  }
  if (mem_.resident_pages() != contents_.size() + rmp_resident) {
    fail(ctx_,
         "expected %zu resident pages (%zu written + %" PRIu64 " RMP), got %" PRIu64
         ": a write landed outside the RMP and the allowed writes",
         contents_.size() + rmp_resident, contents_.size(), rmp_resident, mem_.resident_pages());
  }
  for (uint64_t p : touched_) {
    if (rmp_.vmsa_in_use(Pfn{p}) != in_use(p)) {
      fail(ctx_, "pfn 0x%" PRIx64 " VMSA in-use: expected %d, got %d", p, in_use(p),
           rmp_.vmsa_in_use(Pfn{p}));
    }
  }
  touched_.clear();
}

}  // namespace snpemu::rmp::fuzz
