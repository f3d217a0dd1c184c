// test/rmp/guest_insn_test.cc: outcome tables of PVALIDATE and RMPADJUST, in both layouts.
// Each test cites its rule (PLATFORM-FACTS 4.5 / 4.6, or the UNCONFIRMED choice in rmp/rmp.h).
#include <gtest/gtest.h>

#include "test/rmp/fixture.h"

namespace snpemu::rmp::testing {
namespace {

constexpr uint32_t kAsid = 3;
constexpr uint64_t kPage = kRegion + 17;        // a 4K private page
constexpr uint64_t kBig = kRegion + 512;        // head of a 2M private page
constexpr uint64_t kLoose = kRegion + 1024;     // head of a region of 4K private pages

class GuestInsn : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override {
    m_ = make_machine(GetParam());
    ASSERT_EQ(rmpupdate(rmp(), hpa_of(Pfn{kPage}), private_state(gpa_for(kPage), kAsid)), ok());
    ASSERT_EQ(rmpupdate(rmp(), hpa_of(Pfn{kBig}), private_state(gpa_for(kBig), kAsid, true)), ok());
    for (uint64_t i = 0; i < 512; ++i) {
      ASSERT_EQ(rmpupdate(rmp(), hpa_of(Pfn{kLoose + i}), private_state(gpa_for(kLoose + i), kAsid)), ok());
    }
  }
  Rmp& rmp() { return *m_.rmp; }
  static GuestPageRef ref(uint64_t pfn, MappingSize mapping = MappingSize::k4K) {
    return GuestPageRef{Gva{gpa_for(pfn)}, Gpa{gpa_for(pfn)}, hpa_of(Pfn{pfn}), mapping};
  }
  InsnResult pval(uint64_t pfn, PageSize size, bool validate, uint8_t vmpl = 0,
                  MappingSize mapping = MappingSize::k4K) {
    return pvalidate(rmp(), {Asid{kAsid}, Vmpl{vmpl}}, ref(pfn, mapping), size, validate);
  }
  InsnResult adj(uint64_t pfn, uint64_t attrs, uint8_t vmpl = 0, PageSize size = PageSize::k4K,
                 MappingSize mapping = MappingSize::k4K) {
    return rmpadjust(rmp(), {Asid{kAsid}, Vmpl{vmpl}}, ref(pfn, mapping), size, attrs);
  }
  RmpEntry at(uint64_t pfn) { return rmp().entry(Pfn{pfn}); }
  RmpMachine m_;
};

// PLATFORM-FACTS 4.5: validate / rescind; CF = 1 when Validated already had the value.
TEST_P(GuestInsn, PvalidateValidateRescindAndUnchanged) {
  EXPECT_EQ(pval(kPage, PageSize::k4K, true), ok());
  EXPECT_TRUE(at(kPage).validated);
  EXPECT_EQ(pval(kPage, PageSize::k4K, true), ok(/*cf=*/true)) << "double validation";
  EXPECT_EQ(pval(kPage, PageSize::k4K, false), ok());
  EXPECT_FALSE(at(kPage).validated);
  EXPECT_EQ(pval(kPage, PageSize::k4K, false), ok(true)) << "rescind of an unvalidated page";
}

// PLATFORM-FACTS 4.5: 2M request on an unaligned VA -> FAIL_INPUT.
TEST_P(GuestInsn, PvalidateFailInput) {
  GuestPageRef r = ref(kBig, MappingSize::k2M);
  r.va.value += 0x1000;
  EXPECT_EQ(pvalidate(rmp(), {Asid{kAsid}, Vmpl{0}}, r, PageSize::k2M, true), fail(RmpRc::kFailInput));
}

// rmp.h (UNCONFIRMED, PLATFORM-FACTS 11.4): PVALIDATE at VMPL > 0 -> FAIL_PERMISSION.
TEST_P(GuestInsn, PvalidateAtVmpl1Fails) {
  EXPECT_EQ(pval(kPage, PageSize::k4K, true, 1), fail(RmpRc::kFailPermission));
  EXPECT_FALSE(at(kPage).validated);
}

// PLATFORM-FACTS 4.5 [3P VeriSMo]: not assigned to this guest at this GPA -> #NPF RMP.
TEST_P(GuestInsn, PvalidateNotOwnedIsNpf) {
  const GuestContext ctx{Asid{kAsid}, Vmpl{0}};
  EXPECT_EQ(pvalidate(rmp(), ctx, ref(kRegion + 2), PageSize::k4K, true), insn_npf(gpa_for(kRegion + 2)))
      << "unassigned";
  EXPECT_EQ(pvalidate(rmp(), {Asid{kAsid + 1}, Vmpl{0}}, ref(kPage), PageSize::k4K, true),
            insn_npf(gpa_for(kPage)))
      << "other ASID";
  GuestPageRef r = ref(kPage);
  r.gpa.value += 0x1000;
  EXPECT_EQ(pvalidate(rmp(), ctx, r, PageSize::k4K, true), insn_npf(r.gpa.value)) << "other GPA";
}

// PLATFORM-FACTS 4.5: 2M over 4K RMP entries (or a 4K mapping) -> FAIL_SIZEMISMATCH; 4K inside
// a 2M entry -> #NPF SIZEM; 2M success validates all 512 entries.
TEST_P(GuestInsn, PvalidatePageSizeRules) {
  EXPECT_EQ(pval(kLoose, PageSize::k2M, true, 0, MappingSize::k2M), fail(RmpRc::kFailSizeMismatch));
  EXPECT_EQ(pval(kBig, PageSize::k2M, true, 0, MappingSize::k4K), fail(RmpRc::kFailSizeMismatch));
  EXPECT_EQ(pval(kBig + 5, PageSize::k4K, true), insn_npf(gpa_for(kBig + 5), /*sizem=*/true));
  EXPECT_EQ(pval(kBig, PageSize::k2M, true, 0, MappingSize::k1G), ok());
  EXPECT_TRUE(at(kBig).validated && at(kBig + 511).validated);
  EXPECT_EQ(pval(kBig, PageSize::k2M, true, 0, MappingSize::k2M), ok(true));
}

// PLATFORM-FACTS 4.6: attrs bits 7:0 target VMPL, 11:8 perms, 16 VMSA; success sets them.
TEST_P(GuestInsn, RmpadjustGrantsPermissions) {
  EXPECT_EQ(adj(kPage, 1 | (uint64_t{perm::kRead} << 8)), ok());
  EXPECT_EQ(at(kPage).vmpl_perms, (std::array<uint8_t, 3>{perm::kRead, 0, 0}));
  EXPECT_EQ(adj(kPage, 3 | (uint64_t{perm::kAll} << 8)), ok());
  EXPECT_EQ(at(kPage).vmpl_perms, (std::array<uint8_t, 3>{perm::kRead, 0, perm::kAll}));
}

// rmp.h FAIL_INPUT list: reserved bits, target > 3, unaligned 2M VA, VMSA with 2M (UNCONFIRMED).
TEST_P(GuestInsn, RmpadjustFailInput) {
  EXPECT_EQ(adj(kPage, 1 | (1u << 12)), fail(RmpRc::kFailInput)) << "bit 12 reserved";
  EXPECT_EQ(adj(kPage, 1 | (uint64_t{1} << 40)), fail(RmpRc::kFailInput)) << "bit 40 reserved";
  EXPECT_EQ(adj(kPage, 4), fail(RmpRc::kFailInput)) << "target VMPL 4";
  EXPECT_EQ(adj(kBig + 1, 1, 0, PageSize::k2M, MappingSize::k2M), fail(RmpRc::kFailInput));
  EXPECT_EQ(adj(kBig, 1 | adjust::kVmsa, 0, PageSize::k2M, MappingSize::k2M), fail(RmpRc::kFailInput));
}

// PLATFORM-FACTS 4.6: only a more privileged VMPL [L]; subset of own permissions [3P];
// VMSA bit from VMPL0 only (UNCONFIRMED).
TEST_P(GuestInsn, RmpadjustFailPermission) {
  EXPECT_EQ(adj(kPage, 0 | (0xFu << 8)), fail(RmpRc::kFailPermission)) << "target VMPL0 from VMPL0";
  EXPECT_EQ(adj(kPage, 1, 1), fail(RmpRc::kFailPermission)) << "VMPL1 adjusting VMPL1";
  ASSERT_EQ(adj(kPage, 1 | (uint64_t{perm::kRead | perm::kWrite} << 8)), ok());
  EXPECT_EQ(adj(kPage, 2 | (uint64_t{perm::kSupervisorExec} << 8), 1), fail(RmpRc::kFailPermission))
      << "VMPL1 granting what it lacks";
  EXPECT_EQ(adj(kPage, 2 | (uint64_t{perm::kWrite} << 8), 1), ok()) << "subset is allowed";
  EXPECT_EQ(adj(kPage, 2 | adjust::kVmsa, 1), fail(RmpRc::kFailPermission)) << "VMSA from VMPL1";
  EXPECT_EQ(at(kPage).vmpl_perms[1], perm::kWrite);
}

// PLATFORM-FACTS 4.6 [L]: Linux makes a VMSA with attrs = 1 | bit 16 (4K), clears with attrs = 1.
TEST_P(GuestInsn, RmpadjustVmsaBit) {
  EXPECT_EQ(adj(kPage, 1 | adjust::kVmsa), ok());
  EXPECT_TRUE(at(kPage).vmsa);
  EXPECT_EQ(adj(kPage, 1), ok());
  EXPECT_FALSE(at(kPage).vmsa);
}

// PLATFORM-FACTS 4.6: ownership -> #NPF RMP; size rules as PVALIDATE (SIZEMISMATCH / #NPF SIZEM).
TEST_P(GuestInsn, RmpadjustOwnershipAndSize) {
  EXPECT_EQ(adj(kRegion + 2, 1), insn_npf(gpa_for(kRegion + 2)));
  EXPECT_EQ(adj(kLoose, 1, 0, PageSize::k2M, MappingSize::k2M), fail(RmpRc::kFailSizeMismatch));
  EXPECT_EQ(adj(kBig, 1, 0, PageSize::k2M, MappingSize::k4K), fail(RmpRc::kFailSizeMismatch));
  EXPECT_EQ(adj(kBig + 9, 1), insn_npf(gpa_for(kBig + 9), true));
  EXPECT_EQ(adj(kBig, 1 | (uint64_t{perm::kRead} << 8), 0, PageSize::k2M, MappingSize::k2M), ok());
  EXPECT_EQ(at(kBig + 300).vmpl_perms[0], perm::kRead) << "expected all 512 entries adjusted";
}

INSTANTIATE_TEST_SUITE_P(Layouts, GuestInsn,
                         ::testing::Values(Layout::kContiguous, Layout::kSegmented));

}  // namespace
}  // namespace snpemu::rmp::testing
