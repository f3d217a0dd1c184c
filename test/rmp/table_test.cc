// test/rmp/table_test.cc: RMP location (contiguous, segmented), configuration errors, sparse
// placement, entry codec. Each test cites its rule.
#include <gtest/gtest.h>

#include "test/rmp/fixture.h"

namespace snpemu::rmp::testing {
namespace {

using Kind = RmpConfigError::Kind;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

std::unique_ptr<Memory> ram(uint64_t size) { return std::move(*Memory::create(size)); }

Kind error_of(Memory& mem, const RmpMsrs& msrs, SegmentedRmpCpuid cpuid = kCpuid) {
  auto r = Rmp::create(mem, msrs, cpuid);
  EXPECT_FALSE(r.has_value()) << "expected a configuration error";
  return r ? Kind::kSnpDisabled : r.error().kind;
}

// PLATFORM-FACTS 0: SYSCFG bit 24 SNP_EN enables SNP.
TEST(RmpConfig, SnpEnClearIsRejected) {
  auto mem = ram(256 * kMiB);
  auto r = Rmp::create(*mem, RmpMsrs{0, 0x800'0000, 0xFFF'FFFF, 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, Kind::kSnpDisabled);
  EXPECT_NE(r.error().message().find("SNP_EN"), std::string::npos) << r.error().message();
}

// PLATFORM-FACTS 4.1: bits 51:13 of both MSRs zero = BIOS reserved no RMP.
TEST(RmpConfig, NoReservedRmpIsRejected) {
  auto mem = ram(256 * kMiB);
  EXPECT_EQ(error_of(*mem, RmpMsrs{kSyscfg, 0x1000, 0x1FFF, 0}), Kind::kNotReserved);
}

// UNCONFIRMED choice (rmp.h): a base with bits 12:0 set is rejected.
TEST(RmpConfig, MisalignedBaseIsRejected) {
  auto mem = ram(256 * kMiB);
  EXPECT_EQ(error_of(*mem, RmpMsrs{kSyscfg, 0x800'1000, 0xFFF'FFFF, 0}), Kind::kBaseMisaligned);
}

// PLATFORM-FACTS 4.1: RMP_END is the inclusive last byte, so it cannot lie below RMP_BASE.
TEST(RmpConfig, EndBeforeBaseIsRejected) {
  auto mem = ram(256 * kMiB);
  EXPECT_EQ(error_of(*mem, RmpMsrs{kSyscfg, 0x800'0000, 0x7FF'FFFF, 0}), Kind::kEndBeforeBase);
}

// The table must lie in RAM.
TEST(RmpConfig, TableBeyondRamIsRejected) {
  auto mem = ram(256 * kMiB);
  EXPECT_EQ(error_of(*mem, RmpMsrs{kSyscfg, 0xF00'0000, 0x1000'0000, 0}), Kind::kOutsideMemory);
}

// PLATFORM-FACTS 4.1: size >= 0x4000 + pages * 16 (max_pfn covers all RAM, the RMP included).
TEST(RmpConfig, ContiguousSizeBoundary) {
  auto mem = ram(256 * kMiB);
  const uint64_t need = 0x4000 + (256 * kMiB >> 12) * 16;  // 1 MiB + 16 KiB
  const uint64_t base = 0x800'0000;
  auto r = Rmp::create(*mem, RmpMsrs{kSyscfg, base, base + need - 2, 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, Kind::kTooSmall);
  EXPECT_EQ(r.error().limit, need);
  EXPECT_TRUE(Rmp::create(*mem, RmpMsrs{kSyscfg, base, base + need - 1, 0}).has_value());
}

// PLATFORM-FACTS 4.1: entry_addr = RMP_BASE + 0x4000 + PFN * 16.
TEST(RmpLookup, ContiguousEntryAddress) {
  auto m = make_machine(Layout::kContiguous);
  const uint64_t base = (512 - 4) * kMiB;
  EXPECT_EQ(m.rmp->entry_address(Pfn{0})->value, base + 0x4000);
  EXPECT_EQ(m.rmp->entry_address(Pfn{0x1234})->value, base + 0x4000 + 0x1234 * 16);
  EXPECT_FALSE(m.rmp->entry_address(Pfn{512 * kMiB >> 12}).has_value())
      << "expected no entry beyond RAM";
  // A raw entry written at that address is what lookup returns (one 16-byte load).
  ASSERT_TRUE(m.mem->write64(Hpa{base + 0x4000 + 0x1234 * 16}, 0xABCD'0001));
  ASSERT_TRUE(m.mem->write64(Hpa{base + 0x4000 + 0x1234 * 16 + 8}, 0x77));
  EXPECT_EQ(*m.rmp->lookup(Pfn{0x1234}), (RawRmpEntry{0xABCD'0001, 0x77}));
}

// rmp.h lookup(): the host pointer reads the bytes Memory holds (one copy): a write made through
// Memory directly is seen, on a page absent before and on one already resident.
TEST(RmpLookup, SeesRawMemoryWrites) {
  auto m = make_machine(Layout::kContiguous);
  const Hpa at = *m.rmp->entry_address(Pfn{70});
  EXPECT_EQ(*m.rmp->lookup(Pfn{70}), RawRmpEntry{}) << "absent page reads as unassigned";
  ASSERT_TRUE(m.mem->write64(at, raw::kAssigned));
  EXPECT_TRUE(m.rmp->entry(Pfn{70}).assigned) << "expected the entry written through Memory";
  ASSERT_TRUE(m.mem->write64(Hpa{at.value + 16}, raw::kAssigned | raw::kValidated));
  EXPECT_TRUE(m.rmp->entry(Pfn{71}).validated) << "expected a write to a cached page visible";
}

// Issue 5: an RMP for 1 TiB is placed without touching entries; sparse zero = unassigned.
TEST(RmpLookup, OneTebibyteIsSparse) {
  const uint64_t size = uint64_t{1} << 40;
  auto mem = ram(size + 16 * kGiB + 64 * kMiB);
  const uint64_t base = size;
  const uint64_t end = base + 0x4000 + (mem->size() >> 12) * 16 - 1;
  auto rmp = Rmp::create(*mem, RmpMsrs{kSyscfg, base, end, 0});
  ASSERT_TRUE(rmp) << rmp.error().message();
  EXPECT_EQ(mem->resident_pages(), 0u);
  for (uint64_t pfn = 0; pfn < (size >> 12); pfn += 4093 * 1024) {
    EXPECT_FALSE(rmp->entry(Pfn{pfn}).assigned) << "expected unassigned at pfn " << pfn;
  }
  EXPECT_EQ(mem->resident_pages(), 0u) << "lookups must not allocate";
  const uint64_t far = (size >> 12) - 512;
  EXPECT_EQ(rmpupdate(*rmp, hpa_of(Pfn{far}), private_state(0x20'0000, 3, true)), ok());
  EXPECT_EQ(mem->resident_pages(), 2u) << "a 2M RMPUPDATE writes 8 KiB of entries";
  EXPECT_EQ(rmpupdate(*rmp, hpa_of(Pfn{12345}), shared_state()), ok());
  EXPECT_EQ(mem->resident_pages(), 2u) << "making an untouched page shared allocates nothing";
}

// rmp.h direct_lookup(): an Rmp on untouched memory has every table backed contiguously, for
// both layouts; the segmented window covers the segments before the first hole (segment 5).
TEST(RmpBacking, FixturesReadEveryTableThroughHostPointers) {
  for (Layout layout : {Layout::kContiguous, Layout::kSegmented}) {
    auto m = make_machine(layout);
    EXPECT_TRUE(m.rmp->direct_lookup())
        << "layout " << int(layout) << ": " << m.rmp->backing_error()->message();
    EXPECT_EQ(m.mem->resident_pages(), layout == Layout::kSegmented ? 1u : 0u)
        << "only the RST page the fixture wrote is resident";
  }
  auto m = make_machine(Layout::kSegmented);
  // One entry in the window (segments 0 and 4), beside the hole, and in a lone segment (6, 255).
  for (uint64_t pfn : {uint64_t{3}, uint64_t{4 * 512 + 511}, uint64_t{6 * 512},
                       uint64_t{255 * 512 + 7}}) {
    const Hpa at = *m.rmp->entry_address(Pfn{pfn});
    ASSERT_TRUE(m.mem->write64(at, raw::kAssigned | (pfn << 12)));
    ASSERT_TRUE(m.mem->write64(Hpa{at.value + 8}, pfn));
    EXPECT_EQ(*m.rmp->lookup(Pfn{pfn}), (RawRmpEntry{raw::kAssigned | (pfn << 12), pfn}))
        << "expected the entry written at hpa 0x" << std::hex << at.value << " for pfn 0x" << pfn;
    EXPECT_NE(m.mem->contiguous_pointer(at, 16), nullptr) << "expected a backed table";
  }
  EXPECT_FALSE(m.rmp->lookup(Pfn{5 * 512 + 1})) << "expected no entry in the hole (segment 5)";
  EXPECT_FALSE(m.rmp->lookup(Pfn{256 * 512})) << "expected no entry beyond segment 255";
  EXPECT_FALSE(m.rmp->lookup(Pfn{~uint64_t{0}})) << "expected no entry for the largest PFN";
}

// rmp.h backing_error(): a table page allocated before create() cannot move into a contiguous
// reservation; lookup() reads that table through Memory and gives the same answers.
TEST(RmpBacking, TablesTouchedBeforeCreateAreReadThroughMemory) {
  for (Layout layout : {Layout::kContiguous, Layout::kSegmented}) {
    auto direct = make_machine(layout);
    auto touched = make_machine(layout, Backing::kTouchedFirst);
    ASSERT_FALSE(touched.rmp->direct_lookup()) << "layout " << int(layout);
    EXPECT_EQ(touched.rmp->backing_error()->kind, BackingError::Kind::kResident)
        << touched.rmp->backing_error()->message();
    // Same instruction on both; every entry of the touched and untouched tables compared.
    for (uint64_t region : {0, 6, 7, 9}) {
      const uint64_t pfn = region * 512 + 17;
      const RmpStateView s = private_state(0x4000'0000 + (pfn << 12), 9, false);
      EXPECT_EQ(rmpupdate(*direct.rmp, hpa_of(Pfn{pfn}), s), ok());
      EXPECT_EQ(rmpupdate(*touched.rmp, hpa_of(Pfn{pfn}), s), ok());
    }
    for (uint64_t pfn = 0; pfn < 10 * 512; ++pfn) {
      ASSERT_EQ(direct.rmp->lookup(Pfn{pfn}), touched.rmp->lookup(Pfn{pfn}))
          << "layout " << int(layout) << " pfn 0x" << std::hex << pfn;
    }
    EXPECT_TRUE(touched.rmp->entry(Pfn{6 * 512 + 17}).assigned);
  }
}

// rmp.h back_tables(): a touched table inside the would-be window (segment 2) makes Memory refuse
// the window; every other table then gets its own reservation and only segment 2 is read
// through Memory.
TEST(RmpBacking, RefusedWindowFallsBackToOneReservationPerTable) {
  auto mem = ram(1 * kGiB);
  const uint64_t base = 0x3000'0000;
  for (uint64_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(mem->write64(Hpa{base + 0x4000 + i * 8}, (512 * kMiB + (i << 20)) | 1));
  }
  const Hpa table2{512 * kMiB + (2 << 20)};
  ASSERT_TRUE(mem->write64(Hpa{table2.value + 5 * 16}, raw::kAssigned));  // entry of pfn 2*512+5
  auto rmp = Rmp::create(*mem, RmpMsrs{kSyscfg, base, 0, kRmpCfgSegmented | (21u << 8)}, kCpuid);
  ASSERT_TRUE(rmp) << rmp.error().message();
  ASSERT_FALSE(rmp->direct_lookup());
  EXPECT_EQ(rmp->backing_error()->kind, BackingError::Kind::kResident);
  EXPECT_EQ(rmp->backing_error()->pa, table2) << rmp->backing_error()->message();
  EXPECT_EQ(mem->contiguous_ranges(), 7u) << "expected one reservation per table but segment 2's";
  EXPECT_EQ(mem->contiguous_pointer(table2, 16), nullptr);
  EXPECT_TRUE(rmp->entry(Pfn{2 * 512 + 5}).assigned) << "expected the entry written before";
  for (uint64_t seg : {0, 1, 3, 7}) {
    const uint64_t pfn = seg * 512 + 9;
    EXPECT_EQ(rmpupdate(*rmp, hpa_of(Pfn{pfn}), private_state(0x5000'0000, 3, false)), ok());
    EXPECT_TRUE(rmp->entry(Pfn{pfn}).assigned) << "segment " << seg;
    EXPECT_NE(mem->contiguous_pointer(*rmp->entry_address(Pfn{pfn}), 16), nullptr)
        << "segment " << seg << " should have its own reservation";
  }
  EXPECT_FALSE(rmp->lookup(Pfn{8 * 512})) << "expected no entry beyond segment 7";
}

// Snapshot order: Memory restored after create() (tables still untouched) keeps the fast path;
// restored before create(), the tables are resident and are read through Memory. Both read the
// snapshot's entries.
TEST(RmpBacking, RestoredMemoryReadsTheSameEntriesInEitherOrder) {
  auto a = make_machine(Layout::kContiguous);
  ASSERT_EQ(rmpupdate(*a.rmp, hpa_of(Pfn{0x400}), private_state(0x20'0000, 3, true)), ok());
  ASSERT_EQ(rmpupdate(*a.rmp, hpa_of(Pfn{0x1234}), private_state(0x9000, 4, false)), ok());
  Serializer w = Serializer::writer();
  a.mem->serialize(w);
  ASSERT_TRUE(w.ok());
  const uint64_t size = a.mem->size();
  const uint64_t base = size - (uint64_t{4} << 20);
  const RmpMsrs msrs{kSyscfg, base, size - 1, 0};

  auto after = make_machine(Layout::kContiguous);  // create(), then restore
  Serializer r1 = Serializer::reader(w.bytes());
  after.mem->serialize(r1);
  ASSERT_TRUE(r1.ok()) << r1.status().error().message();
  EXPECT_TRUE(after.rmp->direct_lookup());

  auto mem = ram(size);  // restore, then create()
  Serializer r2 = Serializer::reader(w.bytes());
  mem->serialize(r2);
  ASSERT_TRUE(r2.ok()) << r2.status().error().message();
  auto before = Rmp::create(*mem, msrs);
  ASSERT_TRUE(before) << before.error().message();
  EXPECT_FALSE(before->direct_lookup()) << "restored table pages are resident on their own";

  for (uint64_t pfn : {uint64_t{0x3FF}, uint64_t{0x400}, uint64_t{0x5FF}, uint64_t{0x1234},
                       uint64_t{0x1235}}) {
    EXPECT_EQ(after.rmp->entry(Pfn{pfn}), a.rmp->entry(Pfn{pfn})) << "pfn 0x" << std::hex << pfn;
    EXPECT_EQ(before->entry(Pfn{pfn}), a.rmp->entry(Pfn{pfn})) << "pfn 0x" << std::hex << pfn;
  }
  EXPECT_TRUE(after.rmp->entry(Pfn{0x401}).assigned) << "expected the 2M entry restored";
}

// Two Rmps created from the same MSRs on one Memory share its reservation and see each other's
// stores.
TEST(RmpBacking, SecondRmpOnTheSameMemoryIsDirectToo) {
  for (Layout layout : {Layout::kContiguous, Layout::kSegmented}) {
    auto m = make_machine(layout);
    const size_t ranges = m.mem->contiguous_ranges();
    const uint64_t base = layout == Layout::kContiguous ? m.mem->size() - (uint64_t{4} << 20)
                                                        : 0x3000'0000;
    const RmpMsrs msrs = layout == Layout::kContiguous
                             ? RmpMsrs{kSyscfg, base, m.mem->size() - 1, 0}
                             : RmpMsrs{kSyscfg, base, 0, kRmpCfgSegmented | (21u << 8)};
    auto second = Rmp::create(*m.mem, msrs, kCpuid);
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_TRUE(second->direct_lookup()) << second->backing_error()->message();
    EXPECT_EQ(m.mem->contiguous_ranges(), ranges) << "expected no new reservation";
    ASSERT_EQ(rmpupdate(*m.rmp, hpa_of(Pfn{7 * 512}), private_state(0x7000, 2, false)), ok());
    EXPECT_TRUE(second->entry(Pfn{7 * 512}).assigned) << "layout " << int(layout);
  }
}

// PLATFORM-FACTS 0 / 4.1: segment shift from RMP_CFG[13:8] within CPUID 0x8000_0025 EAX limits.
TEST(RmpConfig, SegmentShiftOutsideCpuidRangeIsRejected) {
  auto mem = ram(1 * kGiB);
  const uint64_t base = 0x3000'0000;
  for (unsigned shift : {20u, 41u}) {
    EXPECT_EQ(error_of(*mem, RmpMsrs{kSyscfg, base, 0, kRmpCfgSegmented | (shift << 8)}),
              Kind::kSegmentShiftRange)
        << "shift " << shift;
  }
  // CPUID allowing 12..40 still cannot go below 21 here (segments hold whole 2 MiB regions).
  EXPECT_EQ(error_of(*mem, RmpMsrs{kSyscfg, base, 0, kRmpCfgSegmented | (16u << 8)},
                     SegmentedRmpCpuid{12u | (40u << 6), 0}),
            Kind::kSegmentShiftRange);
}

// PLATFORM-FACTS 4.1: RST entry bits 19:0 mapped GiB, 51:20 segment base; index = PA >> shift;
// entry = base + ((PA & (coverage - 1)) >> 12) * 16; mapped size capped to the coverage.
TEST(RmpLookup, SegmentedEntryAddress) {
  auto m = make_machine(Layout::kSegmented);
  const uint64_t seg7 = 512 * kMiB + 7 * kMiB;
  EXPECT_EQ(m.rmp->entry_address(Pfn{7 * 512})->value, seg7);
  EXPECT_EQ(m.rmp->entry_address(Pfn{7 * 512 + 511})->value, seg7 + 511 * 16);
  EXPECT_FALSE(m.rmp->entry_address(Pfn{5 * 512 + 3})) << "expected segment 5 unused";
  EXPECT_FALSE(m.rmp->entry_address(Pfn{256 * 512})) << "expected segment 256 unused";
  EXPECT_TRUE(m.rmp->segmented());
}

// PLATFORM-FACTS 0: CPUID 0x8000_0025 EBX bit 10 set => EBX[9:0] limits the RST entries used.
TEST(RmpLookup, CpuidLimitsRstEntries) {
  auto mem = ram(1 * kGiB);
  const uint64_t base = 0x3000'0000;
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(mem->write64(Hpa{base + 0x4000 + i * 8}, (512 * kMiB + (i << 20)) | 1));
  auto rmp = Rmp::create(*mem, RmpMsrs{kSyscfg, base, 0, kRmpCfgSegmented | (21u << 8)},
                         SegmentedRmpCpuid{kCpuid.eax, (1u << 10) | 2});
  ASSERT_TRUE(rmp) << rmp.error().message();
  EXPECT_TRUE(rmp->entry_address(Pfn{1 * 512}));
  EXPECT_FALSE(rmp->entry_address(Pfn{2 * 512})) << "expected RST entry 2 beyond the limit";
}

// Segment tables must lie in RAM and not overlap other RMP structures.
TEST(RmpConfig, BadSegmentsAreRejected) {
  auto mem = ram(1 * kGiB);
  const uint64_t base = 0x3000'0000;
  const RmpMsrs msrs{kSyscfg, base, 0, kRmpCfgSegmented | (21u << 8)};
  ASSERT_TRUE(mem->write64(Hpa{base + 0x4000}, (2 * kGiB) | 1));
  EXPECT_EQ(error_of(*mem, msrs), Kind::kOutsideMemory);
  ASSERT_TRUE(mem->write64(Hpa{base + 0x4000}, (512 * kMiB) | 1));
  ASSERT_TRUE(mem->write64(Hpa{base + 0x4008}, (512 * kMiB) | 1));
  EXPECT_EQ(error_of(*mem, msrs), Kind::kSegmentOverlap);
  ASSERT_TRUE(mem->write64(Hpa{base + 0x4008}, base | 1));
  EXPECT_EQ(error_of(*mem, msrs), Kind::kSegmentOverlap) << "expected overlap with the RST";
}

// STYLE rule 10: serialize() round-trips the VMSA in-use set and rejects another layout.
TEST(RmpSnapshot, RoundTripAndLayoutCheck) {
  auto m = make_machine(Layout::kContiguous);
  m.rmp->set_vmsa_in_use(Pfn{0x123}, true);
  m.rmp->set_vmsa_in_use(Pfn{0x456}, true);
  Serializer w = Serializer::writer();
  m.rmp->serialize(w);
  ASSERT_TRUE(w.ok());
  auto fresh = make_machine(Layout::kContiguous);
  Serializer r = Serializer::reader(w.bytes());
  fresh.rmp->serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  EXPECT_TRUE(fresh.rmp->vmsa_in_use(Pfn{0x123}) && fresh.rmp->vmsa_in_use(Pfn{0x456}));
  EXPECT_FALSE(fresh.rmp->vmsa_in_use(Pfn{0x124}));
  auto other = make_machine(Layout::kSegmented);
  Serializer r2 = Serializer::reader(w.bytes());
  other.rmp->serialize(r2);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().error().field, "rmp.layout");
  std::vector<uint8_t> cut(w.bytes().begin(), w.bytes().end() - 4);
  Serializer r3 = Serializer::reader(cut);
  make_machine(Layout::kContiguous).rmp->serialize(r3);
  EXPECT_FALSE(r3.ok()) << "expected a truncated snapshot to fail";
}

// PLATFORM-FACTS 4.2: raw low-qword bit positions; seeded round trip of the typed codec.
TEST(RmpCodec, RoundTripsSeededEntries) {
  uint64_t x = 0x5eed'c0de;
  for (int i = 0; i < 10000; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    RmpEntry e{(x & 1) != 0, (x & 2) ? PageSize::k2M : PageSize::k4K, (x & 4) != 0, (x & 8) != 0,
               (x & 16) != 0, Asid{uint32_t(x >> 20) & 1023}, Gpa{(x >> 8) & raw::kGpaMask},
               {uint8_t(x >> 40 & 15), uint8_t(x >> 44 & 15), uint8_t(x >> 48 & 15)}};
    ASSERT_EQ(decode(encode(e)), e) << "seed 0x5eedc0de entry " << i << ": " << e.to_string();
  }
  const RawRmpEntry r = encode(RmpEntry{true, PageSize::k4K, false, true, false, Asid{5},
                                        Gpa{0x1234'5000}, {0, 0, 0}});
  EXPECT_EQ(r.lo, 1u | 0x1234'5000u | (uint64_t{5} << 51) | (uint64_t{1} << 62));
}

// PLATFORM-FACTS 4.3: RMPUPDATE input layout gpa@0 assigned@8 pagesize@9 immutable@10 asid@12.
TEST(RmpCodec, StateViewBytes) {
  const RmpStateView v{0x1'2345'6000, 1, 1, 1, 0, 0xABCD};
  const auto b = state_view_to_bytes(v);
  EXPECT_EQ(b[0], 0x00); EXPECT_EQ(b[1], 0x60); EXPECT_EQ(b[4], 0x01);
  EXPECT_EQ(b[8], 1); EXPECT_EQ(b[9], 1); EXPECT_EQ(b[10], 1); EXPECT_EQ(b[11], 0);
  EXPECT_EQ(b[12], 0xCD); EXPECT_EQ(b[13], 0xAB);
  EXPECT_EQ(state_view_from_bytes(b), v);
}

}  // namespace
}  // namespace snpemu::rmp::testing
