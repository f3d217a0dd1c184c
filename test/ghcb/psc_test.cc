// Tests for the PSC descriptor codec and KVM's scan/coalesce algorithm (ghcb/psc.cc).
// Rules: PLATFORM-FACTS 3.1-3.3 [L] asm/sev-common.h, kvm/svm/sev.c snp_begin_psc,
// __snp_complete_one_psc, snp_complete_one_psc.
#include <array>
#include <cstring>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

constexpr uint8_t kPriv = 1, kShared = 2;

PscEntry E(uint64_t gfn, uint8_t op, bool two_m = false, uint16_t cur_page = 0) {
  return PscEntry{cur_page, gfn, op, two_m, 0};
}

std::vector<std::byte> Buf(uint16_t cur, uint16_t end, const std::vector<PscEntry>& es,
                           uint32_t reserved = 0) {
  std::vector<std::byte> b(kPscHeaderSize + es.size() * kPscEntrySize);
  std::memcpy(b.data(), &cur, 2);
  std::memcpy(b.data() + 2, &end, 2);
  std::memcpy(b.data() + 4, &reserved, 4);
  for (size_t i = 0; i < es.size(); ++i) {
    const uint64_t raw = es[i].encode();
    std::memcpy(b.data() + 8 + 8 * i, &raw, 8);
  }
  return b;
}

PscScan Scan(const std::vector<std::byte>& b) {
  auto d = parse_psc_desc(b);
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().what);
  return psc_scan_begin(d.value_or(PscDesc{}));
}

PscBatch Batch(uint64_t gfn, uint64_t npages, bool priv, bool two_m, uint16_t first,
               uint16_t count) {
  return PscBatch{gfn << 12, npages,
                  (priv ? kMapGpaRangeEncrypted : 0) | (two_m ? kMapGpaRangePageSz2M : 0),
                  priv, two_m, first, count};
}

// PLATFORM-FACTS 3.1 entry layout: cur_page 11:0, gfn 51:12, op 55:52, pagesize 56, rsvd 63:57.
TEST(PscEntryCodec, BitPositions) {
  EXPECT_EQ(PscEntry::decode(0xABC).cur_page, 0xABC);
  EXPECT_EQ(PscEntry::decode(uint64_t{0xFF'FFFF'FFFF} << 12).gfn, 0xFF'FFFF'FFFFu);
  EXPECT_EQ(PscEntry::decode(uint64_t{0xF} << 52).operation, 0xF);
  EXPECT_TRUE(PscEntry::decode(uint64_t{1} << 56).pagesize);
  EXPECT_EQ(PscEntry::decode(uint64_t{0x7F} << 57).reserved, 0x7F);
  const PscEntry e{0x123, 0x12'3456'789A, 2, true, 0x55};
  EXPECT_EQ(e.encode(), 0x123u | (uint64_t{0x12'3456'789A} << 12) | (uint64_t{2} << 52) |
                            (uint64_t{1} << 56) | (uint64_t{0x55} << 57));
  EXPECT_EQ(PscEntry::decode(e.encode()), e);
}

// PLATFORM-FACTS 3.3 step 2: end_entry >= 253 -> invalid header (0x1_0000_0001).
TEST(PscParse, HeaderRules) {
  auto too_far = parse_psc_desc(Buf(0, 253, {E(1, kPriv)}));
  ASSERT_FALSE(too_far.has_value());
  EXPECT_EQ(too_far.error().code, 0x1'0000'0001u);
  EXPECT_EQ(error_sw_exit_info_1(too_far.error()), 0u) << "PSC answers EXITINFO1 = 0";
  EXPECT_FALSE(parse_psc_desc(Buf(0, 0xFFFF, {})).has_value());
  EXPECT_TRUE(parse_psc_desc(Buf(0, 252, {})).has_value());
  // UNCONFIRMED choice: fewer than 8 bytes is an invalid header.
  std::vector<std::byte> seven(7);
  EXPECT_EQ(parse_psc_desc(seven).error().code, 0x1'0000'0001u);
  // KVM does not check hdr.reserved.
  auto rsv = parse_psc_desc(Buf(0, 0, {E(1, kPriv)}, 0xDEADBEEF));
  ASSERT_TRUE(rsv.has_value());
  EXPECT_EQ(rsv->hdr.reserved, 0xDEADBEEFu);
  EXPECT_EQ(rsv->entries_present, 1);
}

// Step 6: a 4K private entry -> one exit, gpa, 1 page, ENCRYPTED | PAGE_SZ_4K; step 8 marks it.
TEST(PscScanTest, Single4kPrivate) {
  PscScan s = Scan(Buf(0, 0, {E(0x1234, kPriv)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x1234, 1, true, false, 0, 1));
  EXPECT_EQ(st.batch->attributes, uint64_t{1} << 4);
  st = psc_scan_complete(s, 0);
  ASSERT_TRUE(st.done());
  EXPECT_EQ(st.status, PscStatus::kSuccess);
  EXPECT_EQ(s.desc.hdr.cur_entry, 1);
  EXPECT_EQ(s.desc.entry(0).cur_page, 1);
}

// Step 6: a 2M aligned shared entry -> 512 pages, DECRYPTED | PAGE_SZ_2M; cur_page = 512 after.
TEST(PscScanTest, Aligned2mShared) {
  PscScan s = Scan(Buf(0, 0, {E(0x400, kShared, true)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x400, 512, false, true, 0, 1));
  EXPECT_EQ(st.batch->attributes, 1u);
  EXPECT_TRUE(psc_scan_complete(s, 0).done());
  EXPECT_EQ(s.desc.entry(0).cur_page, 512);
}

// Step 3: GFN not aligned to npages, or cur_page > npages -> invalid entry.
TEST(PscScanTest, InvalidEntries) {
  const std::vector<std::vector<PscEntry>> bad = {
      {E(0x201, kPriv, true)},          // unaligned 2M GFN
      {E(0x1, kPriv, false, 2)},        // 4K cur_page 2 > 1
      {E(0x200, kPriv, true, 513)},     // 2M cur_page 513 > 512
  };
  for (const auto& es : bad) {
    PscScan s = Scan(Buf(0, 0, es));
    PscStep st = psc_scan_next(s);
    ASSERT_TRUE(st.done()) << "entry 0x" << std::hex << es[0].encode();
    EXPECT_EQ(st.status, PscStatus::kInvalidEntry) << "entry 0x" << std::hex << es[0].encode();
  }
}

// Step 3: finished entries (cur_page == npages) are skipped and cur_entry advances past them.
TEST(PscScanTest, SkipsFinishedEntries) {
  PscScan s = Scan(Buf(0, 2, {E(0x200, kPriv, true, 512), E(0x7, kPriv, false, 1),
                              E(0x9, kShared)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x9, 1, false, false, 2, 1));
  EXPECT_EQ(s.desc.hdr.cur_entry, 2) << "cur_entry counts up while scanning";
}

// Steps 3 and 6: a partial 2M entry continues as 4K from gfn + cur_page, but the page-size flag
// still follows the entry's pagesize bit (KVM quirk).
TEST(PscScanTest, Partial2mKeeps2mFlagQuirk) {
  PscScan s = Scan(Buf(0, 0, {E(0x200, kPriv, true, 16)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(st.batch->gpa, uint64_t{0x210} << 12);
  EXPECT_EQ(st.batch->npages, 496u);
  EXPECT_TRUE(st.batch->page_size_2m) << "quirk: 2M flag despite 4K handling";
  EXPECT_EQ(st.batch->attributes, (uint64_t{1} << 4) | 1);
  EXPECT_FALSE(s.inflight_2m) << "KVM's psc_2m is false for the downgraded entry";
  EXPECT_TRUE(psc_scan_complete(s, 0).done());
  EXPECT_EQ(s.desc.entry(0).cur_page, 512);
}

// Step 5 as KVM writes it: contiguity compares with the *unadjusted* first GFN + adjusted count.
// After a partial 2M entry (0x200, cur_page 16: pages 0x210..0x3FF), a 4K entry at 0x200 + 496
// = 0x3F0 is coalesced, and the truly contiguous 0x400 is not.
TEST(PscScanTest, Partial2mCoalescingQuirk) {
  PscScan s = Scan(Buf(0, 2, {E(0x200, kPriv, true, 16), E(0x3F0, kPriv), E(0x400, kPriv)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x210, 497, true, true, 0, 2));
  st = psc_scan_complete(s, 0);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x400, 1, true, false, 2, 1));
  EXPECT_EQ(s.desc.entry(1).cur_page, 1);
}

// Step 5: contiguous entries with the same op, size and cur_page 0 form one exit.
TEST(PscScanTest, CoalescesContiguousEntries) {
  PscScan s = Scan(Buf(0, 6, {E(10, kShared), E(11, kShared), E(12, kShared), E(14, kShared),
                              E(15, kPriv), E(0x200, kPriv, true), E(0x400, kPriv, true)}));
  std::vector<PscBatch> got;
  PscStep st = psc_scan_next(s);
  while (!st.done()) {
    got.push_back(*st.batch);
    st = psc_scan_complete(s, 0);
  }
  EXPECT_EQ(st.status, PscStatus::kSuccess);
  const std::vector<PscBatch> want = {
      Batch(10, 3, false, false, 0, 3),       // 10..12
      Batch(14, 1, false, false, 3, 1),       // gap before 14
      Batch(15, 1, true, false, 4, 1),        // op changes; then 2M breaks the 4K run
      Batch(0x200, 1024, true, true, 5, 2),   // two contiguous 2M entries
  };
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.desc.hdr.cur_entry, 7);
}

// Step 5: a following entry with cur_page != 0 is not coalesced.
TEST(PscScanTest, PartialFollowerNotCoalesced) {
  PscScan s = Scan(Buf(0, 1, {E(0x200, kPriv, true), E(0x400, kPriv, true, 1)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(st.batch->entry_count, 1);
  EXPECT_EQ(st.batch->npages, 512u);
}

// Step 7: operations other than 1/2 (PSMASH, UNSMASH, garbage) complete with no exit.
TEST(PscScanTest, NonPrivateSharedOpsSkipped) {
  PscScan s = Scan(Buf(0, 4, {E(0x200, 3, true), E(0x400, 4, true), E(1, 0), E(2, 15),
                              E(5, kShared)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(5, 1, false, false, 4, 1));
  EXPECT_EQ(s.desc.entry(0).cur_page, 512);
  EXPECT_EQ(s.desc.entry(1).cur_page, 512);
  EXPECT_EQ(s.desc.entry(2).cur_page, 1);
  EXPECT_EQ(s.desc.entry(3).cur_page, 1);
  EXPECT_EQ(s.desc.hdr.cur_entry, 4);
  // All-skipped descriptor: success without any exit.
  PscScan only = Scan(Buf(0, 0, {E(0x200, 3, true)}));
  PscStep done = psc_scan_next(only);
  ASSERT_TRUE(done.done());
  EXPECT_EQ(done.status, PscStatus::kSuccess);
}

// Steps 2-4: cur_entry > end_entry -> success at once, nothing changes.
TEST(PscScanTest, NothingToDo) {
  PscScan s = Scan(Buf(3, 1, {E(1, kPriv), E(2, kPriv)}));
  PscStep st = psc_scan_next(s);
  ASSERT_TRUE(st.done());
  EXPECT_EQ(st.status, PscStatus::kSuccess);
  EXPECT_EQ(s.desc.hdr.cur_entry, 3);
}

// Step 3 after a converted range: an invalid later entry is reported after the earlier exit,
// with the earlier progress written back (cur_entry 1, entry 0 done).
TEST(PscScanTest, InvalidEntryAfterProgress) {
  const auto buf = Buf(0, 1, {E(1, kPriv), E(0x201, kPriv, true)});
  PscScan s = Scan(buf);
  ASSERT_FALSE(psc_scan_next(s).done());
  PscStep st = psc_scan_complete(s, 0);
  ASSERT_TRUE(st.done());
  EXPECT_EQ(st.status, PscStatus::kInvalidEntry);
  std::vector<std::byte> out(buf.size());
  ASSERT_EQ(psc_write_back(s.desc, out), buf.size());
  auto again = parse_psc_desc(out);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->hdr.cur_entry, 1);
  EXPECT_EQ(again->entry(0).cur_page, 1);
  EXPECT_EQ(again->entry(1), E(0x201, kPriv, true)) << "invalid entry left untouched";
}

// Step 8: userspace error -> generic error (0x100 << 32), progress kept; the guest resumes from
// the written-back descriptor and the scan continues where it stopped.
TEST(PscScanTest, ResumeAfterUserspaceError) {
  const auto buf = Buf(0, 2, {E(1, kPriv), E(3, kShared), E(0x200, kPriv, true)});
  PscScan s = Scan(buf);
  ASSERT_FALSE(psc_scan_next(s).done());
  PscStep st = psc_scan_complete(s, 0);  // entry 0 done
  ASSERT_FALSE(st.done());
  EXPECT_EQ(st.batch->first_entry, 1);
  st = psc_scan_complete(s, 0xFFFF'FFFF'FFFF'FFEA);  // -EINVAL from the VMM
  ASSERT_TRUE(st.done());
  EXPECT_EQ(st.status, PscStatus::kGenericError);
  EXPECT_EQ(static_cast<uint64_t>(st.status), uint64_t{0x100} << 32);
  EXPECT_EQ(s.inflight_count, 0) << "completion resets in-flight state";
  std::vector<std::byte> out(buf.size());
  psc_write_back(s.desc, out);
  // Resume: the failed range is retried first.
  PscScan r = Scan(out);
  EXPECT_EQ(r.desc.hdr.cur_entry, 1);
  st = psc_scan_next(r);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(3, 1, false, false, 1, 1));
  st = psc_scan_complete(r, 0);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x200, 512, true, true, 2, 1));
  st = psc_scan_complete(r, 0);
  ASSERT_TRUE(st.done());
  EXPECT_EQ(st.status, PscStatus::kSuccess);
  EXPECT_EQ(r.desc.hdr.cur_entry, 3);
}

// 253 contiguous 4K entries (the spec maximum) form one exit of 253 pages.
TEST(PscScanTest, MaximumDescriptor) {
  std::vector<PscEntry> es;
  for (uint64_t i = 0; i < kPscMaxEntries; ++i) es.push_back(E(0x1000 + i, kShared));
  const auto buf = Buf(0, 252, es);
  ASSERT_EQ(buf.size(), kPscMaxBytes);
  PscScan s = Scan(buf);
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x1000, 253, false, false, 0, 253));
  st = psc_scan_complete(s, 0);
  ASSERT_TRUE(st.done());
  EXPECT_EQ(s.desc.hdr.cur_entry, 253);
}

// UNCONFIRMED choice: entries named by end_entry but beyond the copied bytes are invalid.
TEST(PscScanTest, EntriesBeyondBuffer) {
  PscScan s = Scan(Buf(0, 3, {E(1, kPriv)}));
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(st.batch->entry_count, 1);
  st = psc_scan_complete(s, 0);
  ASSERT_TRUE(st.done());
  EXPECT_EQ(st.status, PscStatus::kInvalidEntry);
  EXPECT_EQ(s.desc.hdr.cur_entry, 1);
}

// Write-back serializes header + present entries, truncated to the destination.
TEST(PscWriteBack, RoundTripAndTruncation) {
  const auto buf = Buf(1, 2, {E(1, kPriv), E(2, kShared, false, 1), E(0x200, 3, true)}, 7);
  auto d = parse_psc_desc(buf);
  ASSERT_TRUE(d.has_value());
  std::vector<std::byte> out(buf.size());
  EXPECT_EQ(psc_write_back(*d, out), buf.size());
  EXPECT_EQ(out, buf) << "unmodified copy must serialize to the same bytes";
  std::vector<std::byte> small(10);
  EXPECT_EQ(psc_write_back(*d, small), 10u);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), buf.begin()));
  // A trailing partial entry is not part of the copy.
  auto odd = buf;
  odd.resize(buf.size() - 3);
  auto p = parse_psc_desc(odd);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->entries_present, 2);
}

// The Linux guest flow (PLATFORM-FACTS 2.5, 3.4): descriptor in the GHCB shared buffer,
// sw_scratch = GHCB + 0x800, EXITINFO2 = 0. KVM accesses it in place, so the descriptor is read
// from the snapshot's page bytes starting at the scratch offset, and written back there.
TEST(PscScanTest, DescriptorInGhcbSharedBuffer) {
  const uint64_t ghcb_gpa = 0x7000;
  std::array<std::byte, kGhcbPageSize> page{};
  const auto desc = Buf(0, 1, {E(0x10, kShared), E(0x11, kShared)});
  std::memcpy(page.data() + 0x800, desc.data(), desc.size());
  write_field(page, GhcbField::kSwScratch, ghcb_gpa + 0x800);
  const GhcbSnapshot snap = GhcbSnapshot::take(page);
  auto area = check_scratch_area(ghcb_gpa, snap.raw(GhcbField::kSwScratch), 0);
  ASSERT_TRUE(area.has_value());
  ASSERT_TRUE(area->in_ghcb);
  const auto bytes = scratch_bytes_in_ghcb(snap, *area);
  ASSERT_EQ(bytes.size(), kGhcbPageSize - 0x800);
  auto parsed = parse_psc_desc(bytes);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->entries_present, kPscMaxEntries) << "page holds all 253 entries from 0x800";
  PscScan s = psc_scan_begin(*parsed);
  PscStep st = psc_scan_next(s);
  ASSERT_FALSE(st.done());
  EXPECT_EQ(*st.batch, Batch(0x10, 2, false, false, 0, 2));
  ASSERT_TRUE(psc_scan_complete(s, 0).done());
  const size_t n = psc_write_back(s.desc, std::span(page).subspan(area->ghcb_offset));
  EXPECT_EQ(n, kPscMaxBytes);
  uint16_t cur = 0;
  std::memcpy(&cur, page.data() + 0x800, 2);
  EXPECT_EQ(cur, 2) << "cur_entry written back in place at GHCB + 0x800";
  EXPECT_TRUE(scratch_bytes_in_ghcb(snap, ScratchArea{0x200000, 8, false, 0}).empty());
}

// PLATFORM-FACTS 1.5: upstream KVM advertises SNP and AP creation only.
TEST(HvFeatures, KvmSupportedBits) { EXPECT_EQ(kHvFtKvmSupported, 0x3u); }

}  // namespace
}  // namespace snpemu::ghcb
