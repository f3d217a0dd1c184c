// test/rmp/check_test.cc: every access-check rule of rmp/rmp.h (PLATFORM-FACTS 4.7 / 4.8), both
// layouts, including the VMPL scenario (VMPL0 grants VMPL1 read-only; a VMPL1 write
// faults) and the refused hypervisor write.
#include <gtest/gtest.h>

#include "test/rmp/fixture.h"

namespace snpemu::rmp::testing {
namespace {

constexpr uint32_t kAsid = 4;
constexpr uint64_t kPage = kRegion + 33;     // 4K private page, validated in SetUp
constexpr uint64_t kBig = kRegion + 512;     // 2M private page, validated in SetUp
constexpr uint64_t kFree = kRegion + 1024;   // hypervisor-owned region

class Checks : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override {
    m_ = make_machine(GetParam());
    const GuestContext ctx{Asid{kAsid}, Vmpl{0}};
    ASSERT_EQ(rmpupdate(rmp(), hpa_of(Pfn{kPage}), private_state(gpa_for(kPage), kAsid)), ok());
    ASSERT_EQ(pvalidate(rmp(), ctx, page(kPage), PageSize::k4K, true), ok());
    ASSERT_EQ(rmpupdate(rmp(), hpa_of(Pfn{kBig}), private_state(gpa_for(kBig), kAsid, true)), ok());
    ASSERT_EQ(pvalidate(rmp(), ctx, page(kBig, MappingSize::k2M), PageSize::k2M, true), ok());
  }
  Rmp& rmp() { return *m_.rmp; }
  static GuestPageRef page(uint64_t pfn, MappingSize m = MappingSize::k4K) {
    return {Gva{gpa_for(pfn)}, Gpa{gpa_for(pfn)}, hpa_of(Pfn{pfn}), m};
  }
  static GuestAccess access(uint64_t pfn, AccessType type, bool c_bit = true, uint8_t vmpl = 0,
                            MappingSize m = MappingSize::k4K) {
    GuestAccess a;
    a.ctx = {Asid{kAsid}, Vmpl{vmpl}};
    a.gpa = Gpa{gpa_for(pfn) + 0x18};
    a.hpa = Hpa{(pfn << 12) + 0x18};
    a.type = type;
    a.c_bit = c_bit;
    a.mapping = m;
    return a;
  }
  static AccessResult npf_result(const GuestAccess& a, uint64_t bits) {
    uint64_t code = npf::kPresent | npf::kGuestFinal | bits;
    if (a.type == AccessType::kWrite) code |= npf::kWrite;
    if (a.type == AccessType::kExecute) code |= npf::kFetch;
    if (a.user) code |= npf::kUser;
    if (a.c_bit) code |= npf::kEnc;
    return {a.c_bit ? RmpCheck::kGuestPrivate : RmpCheck::kGuestShared,
            Fault{Fault::Kind::kNpf, code, a.gpa.value}};
  }
  static AccessResult allowed(RmpCheck c) { return {c, std::nullopt}; }
  RmpMachine m_;
};

// PLATFORM-FACTS 4.7 [L]: host write to an assigned page -> #PF with bit 31; nothing written
// (the caller performs the write only when allowed). Unassigned pages are writable.
TEST_P(Checks, HostWriteToAssignedPageFaults) {
  const HostAccess w{Hpa{(kPage << 12) + 8}, AccessType::kWrite, false, MappingSize::k4K};
  EXPECT_EQ(check_host_access(rmp(), w),
            (AccessResult{RmpCheck::kHostPage, Fault{Fault::Kind::kHostPf,
                                                     hostpf::kPresent | hostpf::kWrite | hostpf::kRmp,
                                                     w.hpa.value}}));
  HostAccess user = w;
  user.user = true;
  EXPECT_EQ(check_host_access(rmp(), user).fault->error_code,
            hostpf::kPresent | hostpf::kWrite | hostpf::kUser | hostpf::kRmp);
  EXPECT_EQ(check_host_access(rmp(), {hpa_of(Pfn{kFree}), AccessType::kWrite, false, MappingSize::k4K}),
            allowed(RmpCheck::kHostPage));
}

// rmp.h (UNCONFIRMED, PLATFORM-FACTS 11.1): host reads and fetches are not RMP-checked.
TEST_P(Checks, HostReadsAreAllowed) {
  for (AccessType t : {AccessType::kRead, AccessType::kExecute}) {
    EXPECT_EQ(check_host_access(rmp(), {hpa_of(Pfn{kPage}), t, false, MappingSize::k4K}),
              allowed(RmpCheck::kNone));
  }
}

// PLATFORM-FACTS 4.7 [L]: 2M and 1G host mappings are checked over the whole 2 MiB range.
TEST_P(Checks, HostLargeMappingChecksWholeRegion) {
  const Hpa free_in_region = hpa_of(Pfn{kRegion + 400});  // same 2 MiB region as kPage
  EXPECT_EQ(check_host_access(rmp(), {free_in_region, AccessType::kWrite, false, MappingSize::k4K}),
            allowed(RmpCheck::kHostPage));
  for (MappingSize m : {MappingSize::k2M, MappingSize::k1G}) {
    const AccessResult r = check_host_access(rmp(), {free_in_region, AccessType::kWrite, false, m});
    EXPECT_EQ(r.check, RmpCheck::kHost2MRange);
    ASSERT_TRUE(r.fault) << "expected a fault for mapping " << int(m);
    EXPECT_EQ(r.fault->error_code & hostpf::kRmp, hostpf::kRmp);
  }
  EXPECT_EQ(check_host_access(rmp(), {hpa_of(Pfn{kFree + 7}), AccessType::kWrite, false, MappingSize::k2M}),
            allowed(RmpCheck::kHost2MRange));
}

// rmp.h (UNCONFIRMED): RMP pages behave as firmware pages: host writes fault.
TEST_P(Checks, HostWriteToRmpPageFaults) {
  const Hpa at = hpa_of(Pfn{m_.rmp_pages.front().first});
  EXPECT_TRUE(check_host_access(rmp(), {at, AccessType::kWrite, false, MappingSize::k4K}).fault);
}

// PLATFORM-FACTS 4.7 [L]: shared (C=0) access to an assigned page -> #NPF RMP (no ENC).
TEST_P(Checks, GuestSharedAccess) {
  const GuestAccess a = access(kPage, AccessType::kRead, /*c_bit=*/false);
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp));
  EXPECT_EQ(check_guest_access(rmp(), access(kFree, AccessType::kWrite, false)),
            allowed(RmpCheck::kGuestShared));
}

// PLATFORM-FACTS 4.7: private access needs assigned + ASID + GPA -> else #NPF RMP | ENC.
TEST_P(Checks, GuestPrivateOwnership) {
  GuestAccess a = access(kFree, AccessType::kRead);
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp)) << "unassigned";
  a = access(kPage, AccessType::kRead);
  a.ctx.asid = Asid{kAsid + 1};
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp)) << "other ASID";
  a = access(kPage, AccessType::kRead);
  a.gpa.value += 0x1000;
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp)) << "other GPA";
  a = access(kPage, AccessType::kRead);
  a.gpa.value |= uint64_t{1} << 51;
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp)) << "GPA beyond 51 bits";
  a = access(kPage, AccessType::kRead);
  a.ctx.asid = Asid{kAsid + 2048};  // same low 10 bits, bit 11 would alias Validated (bit 62)
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp)) << "ASID beyond 10 bits";
  EXPECT_EQ(check_guest_access(rmp(), access(kPage, AccessType::kWrite)),
            allowed(RmpCheck::kGuestPrivate));
}

// PLATFORM-FACTS 4.7 [L]: mapping size vs RMP page size -> #NPF RMP | SIZEM; 1G counts as 2M.
TEST_P(Checks, GuestPrivatePageSize) {
  GuestAccess a = access(kBig + 3, AccessType::kRead, true, 0, MappingSize::k4K);
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp | npf::kSizem)) << "4K in 2M";
  a = access(kPage, AccessType::kRead, true, 0, MappingSize::k2M);
  EXPECT_EQ(check_guest_access(rmp(), a), npf_result(a, npf::kRmp | npf::kSizem)) << "2M over 4K";
  EXPECT_EQ(check_guest_access(rmp(), access(kBig + 3, AccessType::kRead, true, 0, MappingSize::k1G)),
            allowed(RmpCheck::kGuestPrivate));
}

// PLATFORM-FACTS 4.7 [AMD-eng]: private access to an unvalidated page -> #VC 0x404.
TEST_P(Checks, GuestUnvalidatedIsVc) {
  ASSERT_EQ(pvalidate(rmp(), {Asid{kAsid}, Vmpl{0}}, page(kPage), PageSize::k4K, false), ok());
  const GuestAccess a = access(kPage, AccessType::kRead);
  EXPECT_EQ(check_guest_access(rmp(), a),
            (AccessResult{RmpCheck::kGuestPrivate, Fault{Fault::Kind::kVc, 0x404, a.gpa.value}}));
}

// Issue 5 scenario + PLATFORM-FACTS 4.7: VMPL0 grants VMPL1 read-only; VMPL1 reads, its write
// faults with #NPF VMPL (bit 36); fetches need UX/SX by CPL; VMPL0 always has full access.
TEST_P(Checks, GuestVmplPermissions) {
  const GuestContext vmpl0{Asid{kAsid}, Vmpl{0}};
  ASSERT_EQ(rmpadjust(rmp(), vmpl0, page(kPage), PageSize::k4K, 1 | (uint64_t{perm::kRead} << 8)), ok());
  EXPECT_EQ(check_guest_access(rmp(), access(kPage, AccessType::kRead, true, 1)),
            allowed(RmpCheck::kGuestPrivate));
  GuestAccess w = access(kPage, AccessType::kWrite, true, 1);
  EXPECT_EQ(check_guest_access(rmp(), w), npf_result(w, npf::kRmp | npf::kVmpl));
  GuestAccess x = access(kPage, AccessType::kExecute, true, 1);
  EXPECT_EQ(check_guest_access(rmp(), x), npf_result(x, npf::kRmp | npf::kVmpl));
  ASSERT_EQ(rmpadjust(rmp(), vmpl0, page(kPage), PageSize::k4K, 1 | (uint64_t{perm::kUserExec} << 8)), ok());
  x.user = true;
  EXPECT_EQ(check_guest_access(rmp(), x), allowed(RmpCheck::kGuestPrivate)) << "user exec granted";
  x.user = false;
  EXPECT_EQ(check_guest_access(rmp(), x), npf_result(x, npf::kRmp | npf::kVmpl)) << "supervisor";
  EXPECT_EQ(check_guest_access(rmp(), access(kPage, AccessType::kRead, true, 2)).fault->error_code &
                npf::kVmpl,
            npf::kVmpl)
      << "VMPL2 has nothing";
  EXPECT_EQ(check_guest_access(rmp(), access(kPage, AccessType::kWrite, true, 0)),
            allowed(RmpCheck::kGuestPrivate));
  const GuestAccess bad = access(kPage, AccessType::kRead, true, 4);
  EXPECT_EQ(check_guest_access(rmp(), bad), npf_result(bad, npf::kRmp | npf::kVmpl))
      << "a VMPL above 3 has no permissions";
}

// rmp.h (UNCONFIRMED): a VMSA page cannot be written from VMPL > 0 even with W; VMPL0 may.
TEST_P(Checks, GuestVmsaPageWrites) {
  const GuestContext vmpl0{Asid{kAsid}, Vmpl{0}};
  ASSERT_EQ(rmpadjust(rmp(), vmpl0, page(kPage), PageSize::k4K,
                      1 | (uint64_t{perm::kAll} << 8) | adjust::kVmsa), ok());
  const GuestAccess w = access(kPage, AccessType::kWrite, true, 1);
  EXPECT_EQ(check_guest_access(rmp(), w), npf_result(w, npf::kRmp | npf::kVmpl));
  EXPECT_EQ(check_guest_access(rmp(), access(kPage, AccessType::kRead, true, 1)),
            allowed(RmpCheck::kGuestPrivate));
  EXPECT_EQ(check_guest_access(rmp(), access(kPage, AccessType::kWrite, true, 0)),
            allowed(RmpCheck::kGuestPrivate));
}

// PLATFORM-FACTS 4.8: a fault during the guest page walk sets GUEST_PAGE (33), not GUEST_FINAL.
TEST_P(Checks, GuestPageWalkBit) {
  GuestAccess a = access(kFree, AccessType::kRead);
  a.page_table_walk = true;
  const AccessResult r = check_guest_access(rmp(), a);
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->error_code & (npf::kGuestPage | npf::kGuestFinal), npf::kGuestPage);
}

// rmp.h check_guest_access(): the inline fast path (detail::private_access_allowed) only ever
// answers what the ordered rules answer. Seeded random entries and accesses, half of them built
// to pass ownership so the fast path is taken often; every field the rules read is varied.
TEST_P(Checks, InlineFastPathAgreesWithTheOrderedRules) {
  constexpr uint64_t kSeed = 0x5eed'fa57;
  uint64_t x = kSeed;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const uint64_t pfn = kFree + 7;
  const Hpa at = *rmp().entry_address(Pfn{pfn});
  uint64_t fast = 0;
  for (int i = 0; i < 100'000; ++i) {
    GuestAccess a = access(pfn, AccessType(next() % 3), (next() & 7) != 0, uint8_t(next() % 5),
                           MappingSize(next() % 3));
    a.user = (next() & 1) != 0;
    a.ctx.asid = Asid{(next() & 15) == 0 ? uint32_t(1024 + next() % 4) : kAsid};
    if ((next() & 15) == 0) a.gpa = Gpa{a.gpa.value | (uint64_t{1} << 51)};
    const uint64_t r = next();
    uint64_t lo = r & ~(raw::kGpaMask | (raw::kAsidMax << raw::kAsidShift));
    if ((r & 1) != 0) {  // owned by the access's guest, other bits random
      lo |= raw::kAssigned | (a.gpa.value & raw::kGpaMask) |
            ((uint64_t{a.ctx.asid.value} & raw::kAsidMax) << raw::kAsidShift);
    } else {
      lo |= next() & (raw::kGpaMask | (raw::kAsidMax << raw::kAsidShift));
    }
    const RawRmpEntry e{lo, next()};
    ASSERT_TRUE(m_.mem->write64(at, e.lo));
    ASSERT_TRUE(m_.mem->write64(Hpa{at.value + 8}, e.hi));
    const AccessResult rules = detail::check_guest_access_rules(rmp(), a);
    ASSERT_EQ(check_guest_access(rmp(), a), rules)
        << "seed 0x" << std::hex << kSeed << " case " << std::dec << i << ": entry lo 0x"
        << std::hex << e.lo << " hi 0x" << e.hi;
    if (a.c_bit && detail::private_access_allowed(a, e)) {
      ++fast;
      ASSERT_EQ(rules, allowed(RmpCheck::kGuestPrivate)) << "seed 0x" << std::hex << kSeed
                                                         << " case " << std::dec << i;
    }
  }
  EXPECT_GT(fast, 2'000u) << "the fast path must be exercised (seed 0x5eedfa57)";
}

INSTANTIATE_TEST_SUITE_P(Layouts, Checks, ::testing::Values(Layout::kContiguous, Layout::kSegmented));

}  // namespace
}  // namespace snpemu::rmp::testing
