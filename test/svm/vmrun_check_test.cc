// test/svm/vmrun_check_test.cc: each VMRUN consistency check (APM vol 2 15.5.1, kvm/svm/nested.c)
// has one failing case that differs from an all-pass baseline in exactly the field named, and
// the baseline passes.
#include <gtest/gtest.h>

#include <functional>

#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

struct Vmrun {
  VmcbControlArea control;
  VmrunGuestState guest;
  SvmCaps caps;
};

// A 64-bit long-mode guest with nested paging, the way KVM sets up a plain SVM guest.
Vmrun baseline() {
  Vmrun s;
  set_intercept(s.control, Intercept::kVmrun);
  s.control.asid = 1;
  s.control.nested_ctl = nested_ctl::kNpEnable;
  s.control.nested_cr3 = 0x10'0000;
  s.control.msrpm_base_pa = 0x20'0000;
  s.control.iopm_base_pa = 0x30'0000;
  s.guest.efer = efer::kSvme | efer::kLme | efer::kLma | efer::kNxe | efer::kSce;
  s.guest.cr0 = cr0::kPe | cr0::kPg | (1u << 16) /*WP*/ | (1u << 4) /*ET*/;
  s.guest.cr3 = 0x1000;
  s.guest.cr4 = cr4::kPae | (1u << 9) /*OSFXSR*/;
  s.guest.dr6 = 0xFFFF0FF0;
  s.guest.dr7 = 0x400;
  s.guest.g_pat = 0x0007'0406'0007'0406ull;  // power-on PAT
  s.guest.cs_attrib = seg_attrib::kL | seg_attrib::kP | seg_attrib::kS | 0xB;
  return s;
}

// An SEV-ES guest on the same baseline.
Vmrun sev_es_baseline() {
  Vmrun s = baseline();
  s.control.nested_ctl |= nested_ctl::kSevEnable | nested_ctl::kSevEsEnable;
  s.control.asid = 5;
  s.control.vmsa_pa = 0x40'0000;
  return s;
}

VmrunCheck run(const Vmrun& s) { return check_vmrun(s.control, s.guest, s.caps); }

TEST(VmrunCheck, BaselinesPass) {
  EXPECT_EQ(run(baseline()), VmrunCheck::kOk) << vmrun_check_name(run(baseline()));
  EXPECT_EQ(run(sev_es_baseline()), VmrunCheck::kOk) << vmrun_check_name(run(sev_es_baseline()));
  // 32-bit protected mode without paging also passes (no long-mode rules apply).
  Vmrun s = baseline();
  s.guest.efer = efer::kSvme;
  s.guest.cr0 = cr0::kPe;
  s.guest.cr4 = 0;
  s.guest.cs_attrib = seg_attrib::kDb | seg_attrib::kP | seg_attrib::kS | 0xB;
  s.guest.cr3 = 0xFFFF'F000;
  EXPECT_EQ(run(s), VmrunCheck::kOk) << vmrun_check_name(run(s));
}

struct Case {
  const char* rule;
  std::function<void(Vmrun&)> mutate;
  VmrunCheck expected;
  bool sev_es = false;
};

class OneCheckFails : public ::testing::TestWithParam<Case> {};

TEST_P(OneCheckFails, ReportsTheRule) {
  const Case& c = GetParam();
  Vmrun s = c.sev_es ? sev_es_baseline() : baseline();
  c.mutate(s);
  const VmrunCheck got = run(s);
  EXPECT_EQ(got, c.expected) << c.rule << ": expected '" << vmrun_check_name(c.expected)
                             << "', got '" << vmrun_check_name(got) << "'";
}

const Case kCases[] = {
    {"EFER.SVME clear", [](Vmrun& s) { s.guest.efer &= ~efer::kSvme; }, VmrunCheck::kEferSvmeClear},
    {"CR0.CD=0 NW=1", [](Vmrun& s) { s.guest.cr0 |= cr0::kNw; }, VmrunCheck::kCr0CdClearNwSet},
    {"CR0[63:32]", [](Vmrun& s) { s.guest.cr0 |= uint64_t{1} << 32; }, VmrunCheck::kCr0HighBits},
    {"CR3 above MAXPHYADDR", [](Vmrun& s) { s.guest.cr3 |= uint64_t{1} << 52; },
     VmrunCheck::kCr3Mbz},
    {"CR3 above a 48-bit MAXPHYADDR",
     [](Vmrun& s) {
       s.caps.max_phys_addr_bits = 48;
       s.guest.cr3 = uint64_t{1} << 48;
     },
     VmrunCheck::kCr3Mbz},
    {"CR4 bit 13 (VMXE) reserved on AMD", [](Vmrun& s) { s.guest.cr4 |= 1u << 13; },
     VmrunCheck::kCr4Mbz},
    {"CR4 bit 63", [](Vmrun& s) { s.guest.cr4 |= uint64_t{1} << 63; }, VmrunCheck::kCr4Mbz},
    {"DR6[63:32]", [](Vmrun& s) { s.guest.dr6 |= uint64_t{1} << 40; }, VmrunCheck::kDr6HighBits},
    {"DR7[63:32]", [](Vmrun& s) { s.guest.dr7 |= uint64_t{1} << 63; }, VmrunCheck::kDr7HighBits},
    {"EFER bit 1 reserved", [](Vmrun& s) { s.guest.efer |= 1u << 1; }, VmrunCheck::kEferMbz},
    {"EFER bit 63 reserved", [](Vmrun& s) { s.guest.efer |= uint64_t{1} << 63; },
     VmrunCheck::kEferMbz},
    {"LME without long mode", [](Vmrun& s) { s.caps.long_mode = false; },
     VmrunCheck::kLongModeUnsupported},
    {"LME+PG, PAE clear", [](Vmrun& s) { s.guest.cr4 &= ~cr4::kPae; }, VmrunCheck::kLongModeNoPae},
    {"LME+PG, PE clear", [](Vmrun& s) { s.guest.cr0 &= ~cr0::kPe; }, VmrunCheck::kLongModeNoPe},
    {"LME+PG+PAE, CS.L and CS.D", [](Vmrun& s) { s.guest.cs_attrib |= seg_attrib::kDb; },
     VmrunCheck::kLongModeCsLAndD},
    {"VMRUN intercept clear", [](Vmrun& s) { set_intercept(s.control, Intercept::kVmrun, false); },
     VmrunCheck::kVmrunInterceptClear},
    {"ASID 0", [](Vmrun& s) { s.control.asid = 0; }, VmrunCheck::kAsidZero},
    {"ASID = NASID", [](Vmrun& s) { s.control.asid = s.caps.nasid; }, VmrunCheck::kAsidTooLarge},
    {"NP without NPT support", [](Vmrun& s) { s.caps.nested_paging = false; },
     VmrunCheck::kNpUnsupported},
    {"SEV without SEV support", [](Vmrun& s) { s.caps.sev = false; }, VmrunCheck::kSevUnsupported,
     true},
    {"SEV-ES without SEV-ES support", [](Vmrun& s) { s.caps.sev_es = false; },
     VmrunCheck::kSevEsUnsupported, true},
    {"SEV without NP", [](Vmrun& s) { s.control.nested_ctl &= ~nested_ctl::kNpEnable; },
     VmrunCheck::kSevWithoutNp, true},
    {"SEV-ES without SEV", [](Vmrun& s) { s.control.nested_ctl &= ~nested_ctl::kSevEnable; },
     VmrunCheck::kSevEsWithoutSev, true},
    {"SEV ASID above max",
     [](Vmrun& s) {
       s.control.nested_ctl &= ~nested_ctl::kSevEsEnable;
       s.control.asid = s.caps.max_sev_asid + 1;
     },
     VmrunCheck::kSevAsidOutOfRange, true},
    {"SEV-ES ASID in the plain-SEV range", [](Vmrun& s) { s.control.asid = s.caps.min_sev_asid; },
     VmrunCheck::kSevEsAsidOutOfRange, true},
    {"VMSA PA unaligned", [](Vmrun& s) { s.control.vmsa_pa |= 0x8; }, VmrunCheck::kVmsaPaInvalid,
     true},
    {"VMSA PA beyond MAXPHYADDR", [](Vmrun& s) { s.control.vmsa_pa = uint64_t{1} << 52; },
     VmrunCheck::kVmsaPaInvalid, true},
    {"MSRPM crosses MAXPHYADDR",
     [](Vmrun& s) { s.control.msrpm_base_pa = (uint64_t{1} << 52) - 0x1000; },
     VmrunCheck::kMsrpmBeyondMaxPa},
    {"IOPM crosses MAXPHYADDR",
     [](Vmrun& s) { s.control.iopm_base_pa = (uint64_t{1} << 52) - 0x2000; },
     VmrunCheck::kIopmBeyondMaxPa},
    {"g_pat type 2 with NP", [](Vmrun& s) { s.guest.g_pat = 0x0007'0406'0007'0402ull; },
     VmrunCheck::kGPatInvalid},
    {"EVENTINJ type 1", [](Vmrun& s) { s.control.event_inj = event_bits::kValid | (1u << 8) | 32; },
     VmrunCheck::kEventInjReservedType},
    {"EVENTINJ exception vector 2",
     [](Vmrun& s) { s.control.event_inj = event_bits::kValid | (3u << 8) | 2; },
     VmrunCheck::kEventInjNotAnException},
    {"EVENTINJ #BR in 64-bit mode",
     [](Vmrun& s) { s.control.event_inj = event_bits::kValid | (3u << 8) | 5; },
     VmrunCheck::kEventInjImpossibleInMode},
};

INSTANTIATE_TEST_SUITE_P(Apm1551, OneCheckFails, ::testing::ValuesIn(kCases));

// Boundaries of the map-range rule: the last page-aligned MSRPM base that still fits passes.
TEST(VmrunCheck, MapRangeBoundaries) {
  Vmrun s = baseline();
  s.control.msrpm_base_pa = (uint64_t{1} << 52) - kMsrpmSize;
  s.control.iopm_base_pa = (uint64_t{1} << 52) - kIopmSize;
  EXPECT_EQ(run(s), VmrunCheck::kOk) << vmrun_check_name(run(s));
  // Bits 11:0 of the base are ignored: an unaligned base inside the last page still fits.
  s.control.msrpm_base_pa |= 0xFFF;
  EXPECT_EQ(run(s), VmrunCheck::kOk) << vmrun_check_name(run(s));
  EXPECT_EQ(msrpm_base(s.control).value, (uint64_t{1} << 52) - kMsrpmSize);
  // A base near 2^64 wraps: rejected, not accepted through overflow.
  s.control.msrpm_base_pa = ~uint64_t{0xFFF};
  s.caps.max_phys_addr_bits = 64;
  EXPECT_EQ(run(s), VmrunCheck::kMsrpmBeyondMaxPa);
}

// Rules that must NOT fire: CD=1 NW=1 is legal; CS.L+D outside long mode is legal; g_pat is
// not checked without NP; #BR is legal in 32-bit mode; a non-valid EVENTINJ is ignored.
TEST(VmrunCheck, NearMissesPass) {
  Vmrun s = baseline();
  s.guest.cr0 |= cr0::kCd | cr0::kNw;
  EXPECT_EQ(run(s), VmrunCheck::kOk) << "CD=1 NW=1";

  s = baseline();
  s.control.nested_ctl = 0;
  s.guest.g_pat = 0x0202'0202'0202'0202ull;
  EXPECT_EQ(run(s), VmrunCheck::kOk) << "g_pat without NP";

  s = baseline();
  s.guest.efer = efer::kSvme;
  s.guest.cr0 = cr0::kPe;
  s.guest.cs_attrib = seg_attrib::kL | seg_attrib::kDb;
  s.control.event_inj = event_bits::kValid | (3u << 8) | 5;
  EXPECT_EQ(run(s), VmrunCheck::kOk) << "CS.L+D and #BR outside long mode";

  s = baseline();
  s.control.event_inj = (1u << 8) | 2;  // reserved type but V clear
  EXPECT_EQ(run(s), VmrunCheck::kOk) << "EVENTINJ with V clear";
}

TEST(VmrunCheck, GuestStateIsCopiedFromEitherSaveArea) {
  VmcbSaveArea save;
  save.efer = 0x1D01;
  save.cr0 = 0x8000'0011;
  save.cr3 = 0x5000;
  save.cr4 = 0x20;
  save.dr6 = 0xFFFF0FF0;
  save.dr7 = 0x400;
  save.g_pat = 0x0007'0406'0007'0406ull;
  save.cs.attrib = 0x29B;
  const VmrunGuestState a = guest_state_of(save);
  EXPECT_EQ(a.efer, save.efer);
  EXPECT_EQ(a.cr0, save.cr0);
  EXPECT_EQ(a.cr3, save.cr3);
  EXPECT_EQ(a.cr4, save.cr4);
  EXPECT_EQ(a.dr6, save.dr6);
  EXPECT_EQ(a.dr7, save.dr7);
  EXPECT_EQ(a.g_pat, save.g_pat);
  EXPECT_EQ(a.cs_attrib, 0x29B);

  SevEsSaveArea vmsa;
  vmsa.efer = 0x1500;
  vmsa.cr4 = 0x40020;
  vmsa.cs.attrib = 0x209;
  const VmrunGuestState b = guest_state_of(vmsa);
  EXPECT_EQ(b.efer, 0x1500u);
  EXPECT_EQ(b.cr4, 0x40020u);
  EXPECT_EQ(b.cs_attrib, 0x209);
}

TEST(VmrunCheck, PatValid) {
  EXPECT_TRUE(pat_valid(0x0007'0406'0007'0406ull));
  EXPECT_TRUE(pat_valid(0x0707'0707'0505'0101ull));
  EXPECT_FALSE(pat_valid(0x0300'0000'0000'0000ull)) << "type 3 in the top byte";
  EXPECT_FALSE(pat_valid(0x0000'0000'0000'0008ull)) << "type 8";
}

TEST(VmrunCheck, EveryRuleHasAName) {
  for (int i = 0; i <= static_cast<int>(VmrunCheck::kEventInjImpossibleInMode); ++i) {
    EXPECT_FALSE(vmrun_check_name(static_cast<VmrunCheck>(i)).empty()) << i;
  }
  EXPECT_EQ(vmrun_check_name(VmrunCheck::kAsidZero), "ASID is zero");
}

}  // namespace
}  // namespace snpemu::svm
