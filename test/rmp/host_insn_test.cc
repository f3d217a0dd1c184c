// test/rmp/host_insn_test.cc: outcome tables of RMPUPDATE, PSMASH and RMPREAD, in both layouts.
// Each test cites the rule (PLATFORM-FACTS section, or the UNCONFIRMED choice in rmp/rmp.h).
#include <gtest/gtest.h>

#include "test/rmp/fixture.h"

namespace snpemu::rmp::testing {
namespace {

class HostInsn : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override { m_ = make_machine(GetParam()); }
  Rmp& rmp() { return *m_.rmp; }
  InsnResult update(uint64_t pfn, const RmpStateView& s) { return rmpupdate(rmp(), hpa_of(Pfn{pfn}), s); }
  RmpEntry at(uint64_t pfn) { return rmp().entry(Pfn{pfn}); }
  // A PFN with no RMP entry, and one holding the RMP itself, in this layout.
  uint64_t uncovered() const { return GetParam() == Layout::kContiguous ? (512 * 256) : 5 * 512; }
  uint64_t rmp_page() const { return m_.rmp_pages.front().first; }
  RmpMachine m_;
};

// PLATFORM-FACTS 4.3: make private sets assigned/ASID/GPA/page size/immutable.
TEST_P(HostInsn, RmpupdateAssigns4K) {
  EXPECT_EQ(update(kRegion + 3, private_state(gpa_for(kRegion + 3), 7)), ok());
  const RmpEntry e = at(kRegion + 3);
  EXPECT_TRUE(e.assigned);
  EXPECT_EQ(e.asid, Asid{7});
  EXPECT_EQ(e.gpa, Gpa{gpa_for(kRegion + 3)});
  EXPECT_EQ(e.page_size, PageSize::k4K);
  EXPECT_FALSE(e.validated);
  EXPECT_FALSE(at(kRegion + 4).assigned) << "expected the neighbour untouched";
}

// rmp.h FAIL_INPUT list (alignment, coverage, malformed state; partly UNCONFIRMED).
TEST_P(HostInsn, RmpupdateFailInput) {
  const uint64_t g = gpa_for(kRegion);
  EXPECT_EQ(rmpupdate(rmp(), Hpa{(kRegion << 12) + 8}, private_state(g, 1)), fail(RmpRc::kFailInput))
      << "hpa not 4K aligned";
  EXPECT_EQ(update(kRegion + 1, private_state(g, 1, true)), fail(RmpRc::kFailInput)) << "2M at non-2M hpa";
  EXPECT_EQ(update(uncovered(), private_state(g, 1)), fail(RmpRc::kFailInput)) << "no RMP entry";
  RmpStateView s = private_state(g, 1);
  s.pagesize = 2;
  EXPECT_EQ(update(kRegion, s), fail(RmpRc::kFailInput)) << "pagesize 2";
  s = private_state(g, 1);
  s.assigned = 2;
  EXPECT_EQ(update(kRegion, s), fail(RmpRc::kFailInput)) << "assigned 2";
  s = private_state(g, 1);
  s.rsvd = 1;
  EXPECT_EQ(update(kRegion, s), fail(RmpRc::kFailInput)) << "reserved byte";
  EXPECT_EQ(update(kRegion, private_state(g, 1024)), fail(RmpRc::kFailInput)) << "ASID > 10 bits";
  EXPECT_EQ(update(kRegion, private_state(g + 0x10, 1)), fail(RmpRc::kFailInput)) << "GPA unaligned";
  EXPECT_EQ(update(kRegion, private_state(uint64_t{1} << 51, 1)), fail(RmpRc::kFailInput)) << "GPA >= 2^51";
  EXPECT_EQ(update(kRegion, private_state(g + 0x1000, 1, true)), fail(RmpRc::kFailInput)) << "2M GPA";
  s = shared_state();
  s.asid = 1;
  EXPECT_EQ(update(kRegion, s), fail(RmpRc::kFailInput)) << "shared state with an ASID";
  EXPECT_EQ(at(kRegion), RmpEntry{}) << "expected nothing written by failed RMPUPDATEs";
}

// PLATFORM-FACTS 4.3 [L KVM comment]: immutable pages cannot be changed by RMPUPDATE;
// rmp.h: RMP pages behave as firmware pages (UNCONFIRMED).
TEST_P(HostInsn, RmpupdateFailPermission) {
  ASSERT_EQ(update(kRegion, private_state(0, 0, false, /*immutable=*/true)), ok());
  EXPECT_EQ(update(kRegion, shared_state()), fail(RmpRc::kFailPermission));
  EXPECT_EQ(update(kRegion, private_state(gpa_for(kRegion), 2)), fail(RmpRc::kFailPermission));
  EXPECT_EQ(rmpupdate(rmp(), hpa_of(Pfn{kRegion}), shared_state(true)), fail(RmpRc::kFailPermission))
      << "2M over a region holding an immutable 4K page";
  // Contiguous: the table's own pages have entries -> PERMISSION. Segmented (this fixture):
  // segment tables lie in unmapped segments, so coverage fails first -> INPUT.
  EXPECT_EQ(update(rmp_page(), private_state(0, 1)),
            fail(GetParam() == Layout::kContiguous ? RmpRc::kFailPermission : RmpRc::kFailInput))
      << "RMP page";
}

// PLATFORM-FACTS 4.3 [AMD-eng]: FAIL_INUSE for the VMSA of a running vCPU.
TEST_P(HostInsn, RmpupdateFailInuse) {
  ASSERT_EQ(update(kRegion + 9, private_state(gpa_for(kRegion + 9), 1)), ok());
  rmp().set_vmsa_in_use(Pfn{kRegion + 9}, true);
  EXPECT_EQ(update(kRegion + 9, shared_state()), fail(RmpRc::kFailInuse));
  EXPECT_EQ(update(kRegion, private_state(gpa_for(kRegion), 1, true)), fail(RmpRc::kFailInuse))
      << "2M range containing the in-use page";
  rmp().set_vmsa_in_use(Pfn{kRegion + 9}, false);  // #VMEXIT
  EXPECT_EQ(update(kRegion + 9, shared_state()), ok());
}

// PLATFORM-FACTS 4.3 / 4.9: 4K update inside an assigned 2M entry, or 2M over assigned 4K
// entries -> FAIL_OVERLAP (KVM PSMASHes first / checks all 512 unassigned first).
TEST_P(HostInsn, RmpupdateFailOverlap) {
  ASSERT_EQ(update(kRegion, private_state(gpa_for(kRegion), 1, true)), ok());
  EXPECT_EQ(update(kRegion, shared_state()), fail(RmpRc::kFailOverlap)) << "4K at the 2M head";
  EXPECT_EQ(update(kRegion + 77, shared_state()), fail(RmpRc::kFailOverlap)) << "4K in the tail";
  const uint64_t other = kRegion + 512;
  ASSERT_EQ(update(other + 300, private_state(gpa_for(other + 300), 1)), ok());
  EXPECT_EQ(update(other, private_state(gpa_for(other), 1, true)), fail(RmpRc::kFailOverlap));
  EXPECT_EQ(update(other, shared_state(true)), fail(RmpRc::kFailOverlap)) << "2M make-shared too";
}

// rmp.h check order: PERMISSION before INUSE before OVERLAP (UNCONFIRMED order).
TEST_P(HostInsn, RmpupdateCheckOrder) {
  ASSERT_EQ(update(kRegion + 1, private_state(gpa_for(kRegion + 1), 1, false, true)), ok());
  rmp().set_vmsa_in_use(Pfn{kRegion + 2}, true);
  ASSERT_EQ(update(kRegion + 3, private_state(gpa_for(kRegion + 3), 1)), ok());
  EXPECT_EQ(update(kRegion, private_state(gpa_for(kRegion), 1, true)), fail(RmpRc::kFailPermission));
  const uint64_t other = kRegion + 512;
  rmp().set_vmsa_in_use(Pfn{other + 2}, true);
  ASSERT_EQ(update(other + 3, private_state(gpa_for(other + 3), 1)), ok());
  EXPECT_EQ(update(other, private_state(gpa_for(other), 1, true)), fail(RmpRc::kFailInuse));
}

// Model invariant (rmp.h): a 2M page is 512 entries with GPA + i * 4K; make-shared zeroes all;
// re-assigning a 2M page over itself is allowed; Validated/VMSA/perms are cleared (UNCONFIRMED).
TEST_P(HostInsn, Rmpupdate2MLifecycle) {
  const uint64_t g = gpa_for(kRegion);
  ASSERT_EQ(update(kRegion, private_state(g, 4, true)), ok());
  for (uint64_t i = 0; i < 512; i += 73) {
    const RmpEntry e = at(kRegion + i);
    EXPECT_TRUE(e.assigned && e.page_size == PageSize::k2M && e.asid == Asid{4})
        << "at pfn +" << i << ": " << e.to_string();
    EXPECT_EQ(e.gpa, Gpa{g + i * 4096}) << "at pfn +" << i;
  }
  ASSERT_EQ(pvalidate(rmp(), {Asid{4}, Vmpl{0}}, {Gva{g}, Gpa{g}, hpa_of(Pfn{kRegion}), MappingSize::k2M},
                      PageSize::k2M, true), ok());
  EXPECT_EQ(update(kRegion, private_state(g, 5, true)), ok()) << "2M over the same 2M entry";
  EXPECT_FALSE(at(kRegion + 100).validated) << "expected Validated cleared by RMPUPDATE";
  EXPECT_EQ(update(kRegion, shared_state(true)), ok());
  EXPECT_EQ(at(kRegion + 511), RmpEntry{});
}

// PLATFORM-FACTS 4.4: PSMASH splits 2M into 512 4K entries keeping every attribute.
TEST_P(HostInsn, PsmashKeepsAttributes) {
  const uint64_t g = gpa_for(kRegion);
  ASSERT_EQ(update(kRegion, private_state(g, 2, true)), ok());
  const GuestContext ctx{Asid{2}, Vmpl{0}};
  const GuestPageRef page{Gva{g}, Gpa{g}, hpa_of(Pfn{kRegion}), MappingSize::k2M};
  ASSERT_EQ(pvalidate(rmp(), ctx, page, PageSize::k2M, true), ok());
  ASSERT_EQ(rmpadjust(rmp(), ctx, page, PageSize::k2M, 1 | (perm::kRead << 8)), ok());
  EXPECT_EQ(psmash(rmp(), hpa_of(Pfn{kRegion})), ok());
  for (uint64_t i : {0u, 1u, 255u, 511u}) {
    const RmpEntry want{true, PageSize::k4K, false, true, false, Asid{2}, Gpa{g + i * 4096},
                        {perm::kRead, 0, 0}};
    EXPECT_EQ(at(kRegion + i), want) << "at pfn +" << i << " got " << at(kRegion + i).to_string();
  }
  EXPECT_EQ(update(kRegion + 5, shared_state()), ok()) << "4K RMPUPDATE now allowed";
}

// PLATFORM-FACTS 4.4 return codes; FAIL_INPUT for a non-2M entry and BADADDR for an uncovered
// range are UNCONFIRMED choices (rmp.h).
TEST_P(HostInsn, PsmashFailures) {
  EXPECT_EQ(psmash(rmp(), Hpa{(kRegion + 1) << 12}), fail(RmpRc::kFailInput)) << "not 2M aligned";
  EXPECT_EQ(psmash(rmp(), hpa_of(Pfn{kRegion})), fail(RmpRc::kFailInput)) << "unassigned";
  ASSERT_EQ(update(kRegion, private_state(gpa_for(kRegion), 1)), ok());
  EXPECT_EQ(psmash(rmp(), hpa_of(Pfn{kRegion})), fail(RmpRc::kFailInput)) << "4K entry";
  EXPECT_EQ(psmash(rmp(), hpa_of(Pfn{uncovered()})), fail(RmpRc::kFailBadAddr));
  const uint64_t other = kRegion + 512;
  ASSERT_EQ(update(other, private_state(gpa_for(other), 1, true, true)), ok());
  EXPECT_EQ(psmash(rmp(), hpa_of(Pfn{other})), fail(RmpRc::kFailPermission)) << "immutable";
  const uint64_t third = kRegion + 1024;
  ASSERT_EQ(update(third, private_state(gpa_for(third), 1, true)), ok());
  rmp().set_vmsa_in_use(Pfn{third + 40}, true);
  EXPECT_EQ(psmash(rmp(), hpa_of(Pfn{third})), fail(RmpRc::kFailInuse));
  EXPECT_EQ(at(third + 40).page_size, PageSize::k2M) << "expected no split after a failure";
}

// PLATFORM-FACTS 4.2: RMPREAD returns the architected view; uncovered -> FAIL_INPUT (UNCONFIRMED).
TEST_P(HostInsn, RmpreadView) {
  const uint64_t g = gpa_for(kRegion);
  ASSERT_EQ(update(kRegion, private_state(g, 9, true, true)), ok());
  const RmpReadResult r = rmpread(rmp(), Hpa{((kRegion + 3) << 12) + 0x123});
  EXPECT_EQ(r.result, ok());
  EXPECT_EQ(r.view, (RmpStateView{g + 3 * 4096, 1, 1, 1, 0, 9}));
  EXPECT_EQ(rmpread(rmp(), hpa_of(Pfn{uncovered()})).result, fail(RmpRc::kFailInput));
  EXPECT_EQ(rmpread(rmp(), hpa_of(Pfn{kRegion + 512})).view, RmpStateView{});
}

INSTANTIATE_TEST_SUITE_P(Layouts, HostInsn,
                         ::testing::Values(Layout::kContiguous, Layout::kSegmented));

}  // namespace
}  // namespace snpemu::rmp::testing
