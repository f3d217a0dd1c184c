// The ghcb/guest MSR-protocol calls against the fake KVM built on //ghcb's codecs:
// negotiation (and the terminations Linux performs), CPUID, HV features, registration,
// AP reset hold, termination. PLATFORM-FACTS 1.2-1.8.
#include <gtest/gtest.h>

#include "test/ghcb_guest/guest_fixture.h"

namespace snpemu::test {
namespace {

TEST_F(GuestTest, NegotiatesMinOfHypervisorMaxAndTwo) {
  ASSERT_EQ(ghcb_msr_negotiate(&ctx_), GHCB_OK) << errors();
  EXPECT_EQ(ctx_.version, 2u) << "HV range 1..2, guest 1..2";
  EXPECT_EQ(ctx_.c_bit, 51u);
  EXPECT_EQ(termination(), "none");
  EXPECT_EQ(kvm_.halts(), 0u);
}

TEST_F(GuestTest, NegotiatesVersionOneWithOldHypervisorAndThenHasNoHvFeatures) {
  kvm_.options().hv_max = 1;
  ASSERT_EQ(ghcb_msr_negotiate(&ctx_), GHCB_OK);
  EXPECT_EQ(ctx_.version, 1u);
  uint64_t features = 0xDEAD;
  EXPECT_EQ(ghcb_msr_hv_features(&ctx_, &features), GHCB_UNSUPPORTED);
  EXPECT_EQ(features, 0u);
}

struct Mismatch {
  uint16_t hv_min, hv_max, code;
  const char* why;
};

class NegotiationMismatch : public GuestTest, public ::testing::WithParamInterface<Mismatch> {};

TEST_P(NegotiationMismatch, TerminatesWithSetZeroCodeOne) {
  kvm_.options().hv_min = GetParam().hv_min;
  kvm_.options().hv_max = GetParam().hv_max;
  kvm_.options().sev_info_code = GetParam().code;
  EXPECT_EQ(ghcb_msr_negotiate(&ctx_), GHCB_TERMINATED) << GetParam().why;
  EXPECT_EQ(termination(), "0/1") << GetParam().why << ": GHCB_SEV_ES_PROT_UNSUPPORTED";
  EXPECT_EQ(kvm_.halts(), 1u) << "the guest halts after asking to terminate";
  EXPECT_EQ(ctx_.version, 0u);
  // TERM_REQ value: 0x100 | set << 12 | code << 16, left in the MSR by KVM.
  EXPECT_EQ(kvm_.ghcb_msr(), 0x10100u);
}

INSTANTIATE_TEST_SUITE_P(
    Ranges, NegotiationMismatch,
    ::testing::Values(Mismatch{3, 4, 0x001, "HV min 3 > guest max 2"},
                      Mismatch{0, 0, 0x001, "HV max 0 < guest min 1"},
                      Mismatch{1, 2, 0x003, "wrong response code 0x003"}));

TEST_F(GuestTest, SnpSetupTerminatesWithoutSnpFeature) {
  kvm_.options().hv_features = ghcb::kHvFtSnpApCreation;  // bit 1 only
  EXPECT_EQ(ghcb_msr_sev_setup(&ctx_, 1), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "0/2") << "GHCB_SNP_UNSUPPORTED";
}

TEST_F(GuestTest, SnpSetupWithVersionOneHypervisorTerminates) {
  kvm_.options().hv_max = 1;  // HV features need v2, so SNP cannot be confirmed
  EXPECT_EQ(ghcb_msr_sev_setup(&ctx_, 1), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "0/2");
  EXPECT_EQ(count_events("hv_ft_msr"), 0u) << "no HV_FT_REQ below version 2";
}

TEST_F(GuestTest, SnpSetupReadsHvFeatures) {
  ASSERT_EQ(ghcb_msr_sev_setup(&ctx_, 1), GHCB_OK) << errors();
  EXPECT_EQ(ctx_.hv_features, ghcb::kHvFtKvmSupported);
  EXPECT_EQ(count_events("hv_ft_msr"), 1u);
  EXPECT_EQ(termination(), "none");
}

TEST_F(GuestTest, SevStatusIsReadDirectly) { EXPECT_EQ(ghcb_sev_status(), 0x7u); }

TEST_F(GuestTest, CpuidPerRegister) {
  for (unsigned reg = 0; reg < 4; ++reg) {
    uint32_t v = 0;
    ASSERT_EQ(ghcb_msr_cpuid(0x8000001F, reg, &v), GHCB_OK) << "reg " << reg;
    EXPECT_EQ(v, FakeKvm::cpuid_value(0x8000001F, 0, reg))
        << "expected CPUID 0x8000001F reg " << reg << " = " << hex(FakeKvm::cpuid_value(0x8000001F, 0, reg))
        << ", got " << hex(v);
  }
  ASSERT_EQ(kvm_.events().size(), 4u);
  EXPECT_EQ(kvm_.events()[2], "cpuid_msr fn=0x8000001f reg=2");
  uint32_t v = 0;
  EXPECT_EQ(ghcb_msr_cpuid(1, 4, &v), GHCB_BAD_ARGUMENT);
  EXPECT_EQ(kvm_.events().size(), 4u) << "no request for a bad register index";
}

TEST_F(GuestTest, RegistersGhcbWhenEchoed) {
  ASSERT_EQ(ghcb_msr_register_ghcb(&ctx_, ghcb_gpa()), GHCB_OK) << errors();
  EXPECT_EQ(kvm_.registered_gpa(), ghcb_gpa());
  EXPECT_EQ(ctx_.ghcb_gpa, ghcb_gpa());
  EXPECT_EQ(termination(), "none");
}

TEST_F(GuestTest, RegistrationEchoMismatchTerminatesSetOneCodeZero) {
  kvm_.options().reg_gpa_echo = (ghcb_gpa() >> 12) + 1;
  EXPECT_EQ(ghcb_msr_register_ghcb(&ctx_, ghcb_gpa()), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "1/0") << "GHCB_TERM_REGISTER";
  EXPECT_EQ(ctx_.ghcb_gpa, 0u) << "context must not take an unconfirmed GHCB";
}

TEST_F(GuestTest, PreferredGpaIsNoneFromKvm) {
  uint64_t gfn = 0;
  ASSERT_EQ(ghcb_msr_pref_gpa(&gfn), GHCB_OK);
  EXPECT_EQ(gfn, ghcb::kPrefGpaNone);
}

TEST_F(GuestTest, ApResetHoldLoopsUntilSipi) {
  kvm_.options().ap_hold_spurious = 2;
  kvm_ = FakeKvm(kvm_.options());
  ASSERT_EQ(ghcb_msr_ap_reset_hold(), GHCB_OK);
  ASSERT_EQ(kvm_.events().size(), 3u);
  EXPECT_EQ(kvm_.events()[0], "ap_reset_hold_msr result=0");
  EXPECT_EQ(kvm_.events()[1], "ap_reset_hold_msr result=0");
  EXPECT_EQ(kvm_.events()[2], "ap_reset_hold_msr result=1");
}

TEST_F(GuestTest, TerminateEncodesSetAndCode) {
  ghcb_msr_terminate(1, 5);
  EXPECT_EQ(termination(), "1/5");
  EXPECT_EQ(kvm_.ghcb_msr(), 0x51100u) << "0x100 | 1 << 12 | 5 << 16";
  EXPECT_EQ(kvm_.halts(), 1u);
}

}  // namespace
}  // namespace snpemu::test
