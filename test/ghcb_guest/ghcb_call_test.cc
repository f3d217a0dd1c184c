// The ghcb/guest GHCB-page calls against the fake KVM: the C layout equals //ghcb's C++ layout,
// every setter marks the valid bit KVM's snapshot reads, and the NAE events (CPUID, IOIO, MSR,
// HV_FEATURES, TERM_REQUEST, AP_HLT_LOOP, AP_CREATION) pass KVM's validation with the values the
// guest meant. PLATFORM-FACTS 2.1-2.4, 9.2.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <span>

#include "test/ghcb_guest/guest_fixture.h"

namespace snpemu::test {
namespace {

// The C struct and the C++ codec agree on every offset (a compile-time proof).
#define SAME_OFFSET(f) \
  static_assert(offsetof(struct ghcb_save_area, f) == offsetof(ghcb::GhcbSaveArea, f), #f)
SAME_OFFSET(cpl); SAME_OFFSET(xss); SAME_OFFSET(dr7); SAME_OFFSET(rip); SAME_OFFSET(rsp);
SAME_OFFSET(rax); SAME_OFFSET(rcx); SAME_OFFSET(rdx); SAME_OFFSET(rbx); SAME_OFFSET(rbp);
SAME_OFFSET(rsi); SAME_OFFSET(rdi); SAME_OFFSET(r8); SAME_OFFSET(r15); SAME_OFFSET(sw_exit_code);
SAME_OFFSET(sw_exit_info_1); SAME_OFFSET(sw_exit_info_2); SAME_OFFSET(sw_scratch);
SAME_OFFSET(xcr0); SAME_OFFSET(valid_bitmap); SAME_OFFSET(x87_state_gpa);
#undef SAME_OFFSET
static_assert(sizeof(struct ghcb) == sizeof(ghcb::GhcbPage));
static_assert(offsetof(struct ghcb, shared_buffer) == offsetof(ghcb::GhcbPage, shared_buffer));
static_assert(offsetof(struct ghcb, protocol_version) ==
              offsetof(ghcb::GhcbPage, protocol_version));
static_assert(offsetof(struct ghcb, ghcb_usage) == offsetof(ghcb::GhcbPage, ghcb_usage));
static_assert(sizeof(struct ghcb_psc_desc) == ghcb::kPscMaxBytes);

ghcb::GhcbSnapshot snapshot(const struct ghcb& g) {
  return ghcb::GhcbSnapshot::take(std::span<const std::byte, ghcb::kGhcbPageSize>(
      reinterpret_cast<const std::byte*>(&g), ghcb::kGhcbPageSize));
}

struct SetterCase {
  const char* name;
  std::function<void(struct ghcb*)> set;
  ghcb::GhcbField field;
};

TEST(GhcbLayout, EverySetterMarksExactlyTheBitKvmReads) {
  const SetterCase cases[] = {
      {"cpl", [](struct ghcb* g) { ghcb_set_cpl(g, 3); }, ghcb::GhcbField::kCpl},
      {"xss", [](struct ghcb* g) { ghcb_set_xss(g, 3); }, ghcb::GhcbField::kXss},
      {"dr7", [](struct ghcb* g) { ghcb_set_dr7(g, 3); }, ghcb::GhcbField::kDr7},
      {"rax", [](struct ghcb* g) { ghcb_set_rax(g, 3); }, ghcb::GhcbField::kRax},
      {"rbx", [](struct ghcb* g) { ghcb_set_rbx(g, 3); }, ghcb::GhcbField::kRbx},
      {"rcx", [](struct ghcb* g) { ghcb_set_rcx(g, 3); }, ghcb::GhcbField::kRcx},
      {"rdx", [](struct ghcb* g) { ghcb_set_rdx(g, 3); }, ghcb::GhcbField::kRdx},
      {"rsi", [](struct ghcb* g) { ghcb_set_rsi(g, 3); }, ghcb::GhcbField::kRsi},
      {"rdi", [](struct ghcb* g) { ghcb_set_rdi(g, 3); }, ghcb::GhcbField::kRdi},
      {"sw_exit_code", [](struct ghcb* g) { ghcb_set_sw_exit_code(g, 3); },
       ghcb::GhcbField::kSwExitCode},
      {"sw_exit_info_1", [](struct ghcb* g) { ghcb_set_sw_exit_info_1(g, 3); },
       ghcb::GhcbField::kSwExitInfo1},
      {"sw_exit_info_2", [](struct ghcb* g) { ghcb_set_sw_exit_info_2(g, 3); },
       ghcb::GhcbField::kSwExitInfo2},
      {"sw_scratch", [](struct ghcb* g) { ghcb_set_sw_scratch(g, 3); },
       ghcb::GhcbField::kSwScratch},
      {"xcr0", [](struct ghcb* g) { ghcb_set_xcr0(g, 3); }, ghcb::GhcbField::kXcr0},
  };
  for (const auto& c : cases) {
    auto g = std::make_unique<AlignedGhcb>();
    c.set(&g->page);
    const auto snap = snapshot(g->page);
    ghcb::ValidBitmap expected;
    expected.set(c.field);
    EXPECT_EQ(snap.valid_bitmap(), expected) << c.name << ": only bit "
                                             << static_cast<int>(c.field) << " may be set";
    EXPECT_EQ(snap.get_if_valid(c.field), 3u) << c.name << " value seen by the host";
  }
}

TEST(GhcbLayout, InvalidateClearsBitmapAndExitCode) {
  auto g = std::make_unique<AlignedGhcb>();
  ghcb_set_sw_exit_code(&g->page, 0x72);
  ghcb_set_rax(&g->page, 1);
  ghcb_invalidate(&g->page);
  EXPECT_EQ(snapshot(g->page).valid_bitmap(), ghcb::ValidBitmap{});
  EXPECT_EQ(g->page.save.sw_exit_code, 0u);
}

TEST_F(GuestTest, CpuidNaeSendsRaxRcxXcr0AndReadsFourRegisters) {
  set_up_ghcb();
  uint32_t out[4] = {};
  ASSERT_EQ(ghcb_cpuid(&ctx_, 0xD, 1, 7, out), GHCB_OK) << errors();
  for (unsigned r = 0; r < 4; ++r) {
    EXPECT_EQ(out[r], FakeKvm::cpuid_value(0xD, 1, r))
        << "expected CPUID(0xD, 1) reg " << r << " = " << hex(FakeKvm::cpuid_value(0xD, 1, r))
        << ", got " << hex(out[r]);
  }
  EXPECT_EQ(kvm_.last_xcr0(), 7u) << "leaf 0xD needs XCR0 valid (KVM rule)";
  EXPECT_EQ(kvm_.last_protocol_version(), 2u);
  EXPECT_TRUE(kvm_.errors().empty()) << errors();
}

TEST_F(GuestTest, ConsoleGoesThroughIoioToTheDebugPort) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_console_puts(&ctx_, "hi "), GHCB_OK) << errors();
  ASSERT_EQ(ghcb_console_put_hex(&ctx_, 0xBEEF), GHCB_OK);
  EXPECT_EQ(kvm_.console(), "hi 0x000000000000beef");
  // EXITINFO1 = port 0xE9 << 16 | 8-bit data (bit 4) | 64-bit address (bit 9), OUT.
  EXPECT_EQ(kvm_.events().back(), "ioio port=0xe9 info1=0xe90210");
  ASSERT_EQ(ghcb_console_exit(&ctx_, 3), GHCB_OK);
  EXPECT_EQ(kvm_.exit_value(), 3u);
  EXPECT_TRUE(kvm_.errors().empty()) << errors();
}

TEST_F(GuestTest, IoInReadsRaxMaskedToSize) {
  set_up_ghcb();
  uint32_t v = 0;
  ASSERT_EQ(ghcb_io_in(&ctx_, 0x71, 2, &v), GHCB_OK) << errors();
  EXPECT_EQ(v, 0x5A5Au);
  EXPECT_EQ(kvm_.events().back(), "ioio port=0x71 info1=0x710221");
  EXPECT_EQ(ghcb_io_in(&ctx_, 0x71, 3, &v), GHCB_BAD_ARGUMENT);
}

TEST_F(GuestTest, MsrNaeWriteThenRead) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_wrmsr_nae(&ctx_, 0xC0000103, 0x1122334455667788ull), GHCB_OK) << errors();
  EXPECT_EQ(kvm_.msrs().at(0xC0000103), 0x1122334455667788ull);
  uint64_t v = 0;
  ASSERT_EQ(ghcb_rdmsr_nae(&ctx_, 0xC0000103, &v), GHCB_OK);
  EXPECT_EQ(v, 0x1122334455667788ull);
}

TEST_F(GuestTest, HvFeaturesNae) {
  set_up_ghcb();
  uint64_t f = 0;
  ASSERT_EQ(ghcb_hv_features(&ctx_, &f), GHCB_OK);
  EXPECT_EQ(f, ghcb::kHvFtKvmSupported);
}

TEST_F(GuestTest, TerminateNaeEncodesSetAndCodeInExitInfo1) {
  set_up_ghcb();
  EXPECT_EQ(ghcb_terminate(&ctx_, 1, 4), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "1/4");
  EXPECT_EQ(kvm_.halts(), 1u);
}

TEST_F(GuestTest, ApHltLoopUntilExitInfo2NonZero) {
  kvm_.options().ap_hold_spurious = 2;
  kvm_ = FakeKvm(kvm_.options());
  set_up_ghcb();
  ASSERT_EQ(ghcb_ap_hlt_loop(&ctx_), GHCB_OK) << errors();
  EXPECT_EQ(count_events("ap_hlt_loop info2=0"), 2u);
  EXPECT_EQ(count_events("ap_hlt_loop info2=1"), 1u);
}

TEST_F(GuestTest, ApJumpTableSetThenGet) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_ap_jump_table_set(&ctx_, 0x9F000), GHCB_OK) << errors();
  EXPECT_EQ(kvm_.ap_jump_table(), 0x9F000u);
  uint64_t gpa = 0;
  ASSERT_EQ(ghcb_ap_jump_table_get(&ctx_, &gpa), GHCB_OK) << errors();
  EXPECT_EQ(gpa, 0x9F000u);
  EXPECT_EQ(ghcb_ap_jump_table_set(&ctx_, 0x9F010), GHCB_BAD_ARGUMENT);
  EXPECT_EQ(kvm_.ap_jump_table(), 0x9F000u);
}

TEST_F(GuestTest, UnknownExitCodeGetsKvmsInvalidEventAnswer) {
  set_up_ghcb();
  ghcb_invalidate(ctx_.ghcb);
  EXPECT_EQ(ghcb_call(&ctx_, 0x8000FFF0, 0, 0), GHCB_VMM_ERROR);
  EXPECT_EQ(ctx_.ghcb->save.sw_exit_info_1, 2u);
  EXPECT_EQ(ctx_.ghcb->save.sw_exit_info_2, 6u) << "GHCB_ERR_INVALID_EVENT";
}

TEST_F(GuestTest, ExceptionRequestForGpIsSurfaced) {
  set_up_ghcb();
  kvm_.options().inject_vector = 13;
  kvm_.options().inject_error_code = 0x18;
  uint64_t v = 0;
  EXPECT_EQ(ghcb_rdmsr_nae(&ctx_, 0x1234, &v), GHCB_EXCEPTION);
  EXPECT_EQ(ctx_.fault_vector, 13u);
  EXPECT_EQ(ctx_.fault_error_code, 0x18u);
}

TEST_F(GuestTest, ExceptionRequestForPageFaultIsAVmmError) {
  set_up_ghcb();
  kvm_.options().inject_vector = 14;  // Linux accepts only #GP and #UD
  uint64_t v = 0;
  EXPECT_EQ(ghcb_rdmsr_nae(&ctx_, 0x1234, &v), GHCB_VMM_ERROR);
}

TEST_F(GuestTest, UnregisteredGhcbIsRefusedByTheHost) {
  ASSERT_EQ(ghcb_msr_sev_setup(&ctx_, 1), GHCB_OK);
  ctx_.ghcb_gpa = ghcb_gpa();  // skip registration
  uint64_t f = 0;
  (void)ghcb_hv_features(&ctx_, &f);
  ASSERT_EQ(kvm_.errors().size(), 1u);
  EXPECT_EQ(kvm_.errors()[0], "GHCB call with unregistered GHCB " + hex(ghcb_gpa()));
}

TEST_F(GuestTest, ApCreationPassesVmsaGpaApicIdAndSevFeatures) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_ap_create(&ctx_, GHCB_AP_CREATE, 2, 0, 0x7F001000, 0x1), GHCB_OK) << errors();
  ASSERT_EQ(kvm_.ap_creations().size(), 1u);
  const ApCreation& c = kvm_.ap_creations()[0];
  EXPECT_EQ(c.request, 1u);
  EXPECT_EQ(c.apic_id, 2u);
  EXPECT_EQ(c.vmpl, 0u);
  EXPECT_EQ(c.vmsa_gpa, 0x7F001000u);
  EXPECT_EQ(c.sev_features, 0x1u);
  EXPECT_TRUE(c.accepted);
}

TEST_F(GuestTest, ApCreationRefusals) {
  set_up_ghcb();
  // 2 MiB-aligned VMSA (erratum check) -> malformed input, INVALID_INPUT (5).
  EXPECT_EQ(ghcb_ap_create(&ctx_, GHCB_AP_CREATE, 1, 0, 0x200000, 0x1), GHCB_VMM_ERROR);
  EXPECT_EQ(ctx_.ghcb->save.sw_exit_info_1, 2u);
  EXPECT_EQ(ctx_.ghcb->save.sw_exit_info_2, 5u);
  // SEV features differing from the VM's.
  EXPECT_EQ(ghcb_ap_create(&ctx_, GHCB_AP_CREATE_ON_INIT, 1, 0, 0x7F001000, 0x5), GHCB_VMM_ERROR);
  // No such vCPU.
  EXPECT_EQ(ghcb_ap_create(&ctx_, GHCB_AP_CREATE, 9, 0, 0x7F001000, 0x1), GHCB_VMM_ERROR);
  // Destroy needs no valid features.
  EXPECT_EQ(ghcb_ap_create(&ctx_, GHCB_AP_DESTROY, 1, 0, 0, 0), GHCB_OK) << errors();
  ASSERT_EQ(kvm_.ap_creations().size(), 4u);
  // Caller errors never reach the hypervisor.
  EXPECT_EQ(ghcb_ap_create(&ctx_, GHCB_AP_CREATE, 1, 0, 0x7F001008, 0x1), GHCB_BAD_ARGUMENT);
  EXPECT_EQ(ghcb_ap_create(&ctx_, 3, 1, 0, 0x7F001000, 0x1), GHCB_BAD_ARGUMENT);
  EXPECT_EQ(kvm_.ap_creations().size(), 4u);
}

TEST_F(GuestTest, StartApMakesVmsaThenCreates) {
  set_up_ghcb();
  kvm_.set_private(0x7F003000, 1, true, false);
  ASSERT_EQ(ghcb_snp_start_ap(&ctx_, 3, 0x7F003000, 0x1), GHCB_OK) << errors();
  const auto& ev = kvm_.events();
  ASSERT_GE(ev.size(), 1u);
  EXPECT_EQ(ev.back(), "rmpadjust gpa=0x7f003000 size=0 attrs=0x10001");
  ASSERT_EQ(kvm_.ap_creations().size(), 1u);
  EXPECT_EQ(kvm_.ap_creations()[0].apic_id, 3u);
  EXPECT_EQ(kvm_.ap_creations()[0].vmsa_gpa, 0x7F003000u);
  EXPECT_TRUE(kvm_.ap_creations()[0].accepted);
}

TEST_F(GuestTest, StartApRefusedClearsVmsaBitAgain) {
  set_up_ghcb();
  kvm_.set_private(0x7F003000, 1, true, false);
  EXPECT_EQ(ghcb_snp_start_ap(&ctx_, 3, 0x7F003000, 0x7), GHCB_VMM_ERROR) << "features differ";
  EXPECT_EQ(kvm_.events().back(), "rmpadjust gpa=0x7f003000 size=0 attrs=0x1");
  EXPECT_EQ(ghcb_snp_start_ap(&ctx_, 3, 0x7FE00000, 0x1), GHCB_BAD_ARGUMENT) << "2M aligned";
  ctx_.hv_features = GHCB_HV_FT_SNP;
  EXPECT_EQ(ghcb_snp_start_ap(&ctx_, 3, 0x7F003000, 0x1), GHCB_UNSUPPORTED);
  EXPECT_EQ(kvm_.ap_creations().size(), 1u);
}

TEST_F(GuestTest, PvalidateSurfacesCarryAndMapsItTo255) {
  kvm_.set_private(0x7F002000, 1, false, false);
  int cf = -1;
  EXPECT_EQ(ghcb_pvalidate_raw(0x7F002000, GHCB_PAGE_4K, 1, &cf), 0);
  EXPECT_EQ(cf, 0) << "first validation updates the RMP";
  EXPECT_EQ(ghcb_pvalidate_raw(0x7F002000, GHCB_PAGE_4K, 1, &cf), 0);
  EXPECT_EQ(cf, 1) << "second validation: no update, CF=1";
  EXPECT_EQ(ghcb_pvalidate(0x7F002000, GHCB_PAGE_4K, 1), GHCB_PVALIDATE_FAIL_NOUPDATE);
  EXPECT_EQ(ghcb_pvalidate(0x7F002000, GHCB_PAGE_4K, 0), 0);
  EXPECT_EQ(ghcb_pvalidate(0x7F001000, GHCB_PAGE_2M, 1), GHCB_PVALIDATE_FAIL_INPUT)
      << "2M PVALIDATE of a VA that is not 2M aligned";
}

TEST_F(GuestTest, VmsaRmpAdjustAttributes) {
  kvm_.set_private(0x7F001000, 1, true, false);
  EXPECT_EQ(ghcb_snp_set_vmsa(0x7F001000, 1), 0);
  EXPECT_EQ(ghcb_snp_set_vmsa(0x7F001000, 0), 0);
  EXPECT_TRUE(ghcb_snp_is_vmpl0(0x7F001000));
  ASSERT_EQ(kvm_.events().size(), 3u);
  EXPECT_EQ(kvm_.events()[0], "rmpadjust gpa=0x7f001000 size=0 attrs=0x10001");
  EXPECT_EQ(kvm_.events()[1], "rmpadjust gpa=0x7f001000 size=0 attrs=0x1");
}

}  // namespace
}  // namespace snpemu::test
