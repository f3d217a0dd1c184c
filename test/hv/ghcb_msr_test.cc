// The GHCB MSR protocol through SVM_EXIT_VMGEXIT (hand-built VMCB, the value in ghcb_gpa):
// SEV_INFO from the VMM's range (and the guest's termination when the ranges do not overlap),
// CPUID per register, registration, HV features, termination, AP reset hold, and PSC forwarded
// as KVM_HC_MAP_GPA_RANGE with its completion. Expected values: PLATFORM-FACTS 1.x [L] sev.c.
#include <gtest/gtest.h>

#include "base/hex.h"
#include "test/hv/ghcb_fixture.h"

namespace snpemu::hv::test {
namespace {

TEST(GhcbMsr, SevInfoAnswersTheVmmRangeAndCbit) {
  GhcbFixture f;
  f.vmctx.sev.ghcb_min = 1;
  f.vmctx.sev.ghcb_max = 2;
  f.vmctx.sev.c_bit = 47;
  const ExitOutcome o = f.vmgexit_msr(0x002);
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kGhcbMsrProtocol);
  // max 63:48, min 47:32, C-bit 31:24, code 0x001.
  const uint64_t want = (uint64_t{2} << 48) | (uint64_t{1} << 32) | (uint64_t{47} << 24) | 1;
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, want)
      << "expected " << hex(want) << " got " << hex(f.vmcb.control.ghcb_gpa);
}

TEST(GhcbMsr, ResetPreloadsSevInfo) {
  GhcbFixture f;
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, sev_info_msr_value(f.vmctx.sev));
  EXPECT_EQ(f.vmcb.control.ghcb_gpa & 0xFFF, 0x001u);
}

// KVM answers SEV_INFO whatever the guest supports; the guest finds no overlap (VMM 1..1,
// guest 2..2) and terminates with set 0, code 1, which reaches the VMM.
TEST(GhcbMsr, NoOverlapEndsInTheGuestsTerminationRequest) {
  GhcbFixture f;
  f.vmctx.sev.ghcb_min = 1;
  f.vmctx.sev.ghcb_max = 1;
  f.vmgexit_msr(0x002);
  auto resp = ghcb::decode_msr_response(f.vmcb.control.ghcb_gpa);
  ASSERT_TRUE(resp.has_value());
  const auto& info = std::get<ghcb::SevInfoResponse>(*resp);
  EXPECT_EQ(info.max_protocol, 1);
  EXPECT_EQ(info.min_protocol, 1);
  const uint16_t guest_min = 2, guest_max = 2;
  const bool overlap = info.max_protocol >= guest_min && info.min_protocol <= guest_max;
  ASSERT_FALSE(overlap);
  const uint64_t term = ghcb::encode_msr_request(
      ghcb::TermRequest{.reason_set = 0, .reason_code = ghcb::kTermProtocolUnsupported});
  const ExitOutcome o = f.vmgexit_msr(term);
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kGhcbTerminate);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kSystemEvent);
  EXPECT_EQ(f.vcpu.run.system_event.type, kKvmSystemEventSevTerm);
  EXPECT_EQ(f.vcpu.run.system_event.ndata, 1u);
  EXPECT_EQ(f.vcpu.run.system_event.data[0], 0x10100u) << "set 0 in 15:12, code 1 in 23:16";
}

TEST(GhcbMsr, TerminationCarriesReasonSetAndCode) {
  GhcbFixture f;
  const uint64_t msr = (uint64_t{4} << 16) | (uint64_t{1} << 12) | 0x100;  // set 1, code 4
  const ExitOutcome o = f.vmgexit_msr(msr);
  EXPECT_EQ(o.path, ExitPath::kGhcbTerminate);
  EXPECT_EQ(f.vcpu.run.system_event.data[0], msr);
  const auto t = ghcb::decode_msr_request(f.vcpu.run.system_event.data[0]);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(std::get<ghcb::TermRequest>(*t), (ghcb::TermRequest{1, 4}));
}

TEST(GhcbMsr, CpuidEachRegister) {
  GhcbFixture f;
  const KvmCpuidEntry2 e{.function = 0x8000'001F,
                         .eax = 0x1111'000A, .ebx = 0x2222'0033, .ecx = 0x3333'0063,
                         .edx = 0x4444'0001};
  ASSERT_TRUE(f.vmctx.cpuid.set(std::span(&e, 1)).has_value());
  const uint32_t want[4] = {e.eax, e.ebx, e.ecx, e.edx};
  for (uint64_t reg = 0; reg < 4; ++reg) {
    const uint64_t req = (uint64_t{0x8000'001F} << 32) | (reg << 30) | 0x004;
    const ExitOutcome o = f.vmgexit_msr(req);
    EXPECT_EQ(o.action, ExitAction::kResumeGuest);
    const uint64_t expect = (uint64_t{want[reg]} << 32) | (reg << 30) | 0x005;
    EXPECT_EQ(f.vmcb.control.ghcb_gpa, expect)
        << "register " << reg << ": expected " << hex(expect) << " got "
        << hex(f.vmcb.control.ghcb_gpa);
  }
}

TEST(GhcbMsr, HvFeaturesAndUnknownCode) {
  GhcbFixture f;
  f.vmgexit_msr(0x080);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, (ghcb::kHvFtKvmSupported << 12) | 0x081);
  const uint64_t unknown = 0xABCD'0000'0000'00FFull;
  const ExitOutcome o = f.vmgexit_msr(unknown);
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, unknown) << "unknown request left as is";
}

TEST(GhcbMsr, RegistrationIsSnpOnly) {
  GhcbFixture snp(VmType::kSnp);
  const uint64_t gfn = kGhcbGpa >> 12;
  snp.vmgexit_msr((gfn << 12) | 0x012);
  EXPECT_EQ(snp.vmcb.control.ghcb_gpa, (gfn << 12) | 0x013);
  EXPECT_EQ(snp.vcpu.sev_es.registered_gpa, kGhcbGpa);
  snp.vmgexit_msr(0x010);
  EXPECT_EQ(snp.vmcb.control.ghcb_gpa, 0xFFFF'FFFF'FFFF'F011ull) << "no preferred GPA";

  GhcbFixture es(VmType::kSevEs);
  const ExitOutcome o = es.vmgexit_msr((gfn << 12) | 0x012);
  EXPECT_EQ(o.path, ExitPath::kGhcbTerminate) << "REG_GPA from an SEV-ES guest terminates";
  EXPECT_EQ(es.vcpu.run.system_event.data[0], (gfn << 12) | 0x012);
}

TEST(GhcbMsr, ApResetHoldParksUntilTheSecondSipi) {
  GhcbFixture f;
  const ExitOutcome o = f.vmgexit_msr(0x006);
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kApResetHold);
  EXPECT_EQ(f.vcpu.sev_es.mp_state, MpState::kApResetHold);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, 0x007u) << "pre-set: result 0";
  sev_deliver_sipi(f.vcpu, f.vmcb);  // the first SIPI only records itself
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, 0x007u);
  sev_deliver_sipi(f.vcpu, f.vmcb);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, 0x1007u) << "woken: result 1";
  EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.vcpu.sev_es.mp_state, MpState::kRunnable);
  EXPECT_EQ(f.vcpu.sev_es.hold, ApResetHoldType::kNone);
}

// PSC over the MSR protocol: KVM_EXIT_HYPERCALL nr 12 with args {gpa, 1, attrs}, then 0x015 or
// the error answer bit 63 | 0x015 after the VMM's ret.
TEST(GhcbMsr, PscForwardedAsMapGpaRange) {
  GhcbFixture f(VmType::kSnp);
  const uint64_t gfn = 0x345;
  for (uint64_t op : {1u, 2u}) {
    for (uint64_t ret : {uint64_t{0}, uint64_t{22}}) {
      const ExitOutcome o = f.vmgexit_msr((op << 52) | (gfn << 12) | 0x014);
      ASSERT_EQ(o.action, ExitAction::kExitToVmm);
      EXPECT_EQ(o.path, ExitPath::kGhcbPscExit);
      const KvmRun& run = f.vcpu.run;
      EXPECT_EQ(run.exit_reason, KvmExitReason::kHypercall);
      EXPECT_EQ(run.hypercall.nr, kKvmHcMapGpaRange);
      EXPECT_EQ(run.hypercall.args[0], gfn << 12);
      EXPECT_EQ(run.hypercall.args[1], 1u);
      EXPECT_EQ(run.hypercall.args[2], op == 1 ? 0x10u : 0x0u) << "op " << op;
      EXPECT_EQ(run.hypercall.ret, 0u);
      f.vcpu.run.hypercall.ret = ret;
      EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
      const uint64_t want = ret == 0 ? 0x015 : 0x8000'0000'0000'0015ull;
      EXPECT_EQ(f.vmcb.control.ghcb_gpa, want)
          << "op " << op << " ret " << ret << ": expected " << hex(want) << " got "
          << hex(f.vmcb.control.ghcb_gpa);
    }
  }
}

TEST(GhcbMsr, PscErrorsWithoutAnExit) {
  GhcbFixture f(VmType::kSnp);
  f.vmgexit_msr((uint64_t{3} << 52) | (uint64_t{0x10} << 12) | 0x014);  // PSMASH over MSR
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, 0x8000'0000'0000'0015ull);
  f.vmctx.options.hypercall_exit_enabled = 0;
  const ExitOutcome o = f.vmgexit_msr((uint64_t{1} << 52) | (uint64_t{0x10} << 12) | 0x014);
  EXPECT_EQ(o.action, ExitAction::kResumeGuest) << "VMM did not enable MAP_GPA_RANGE exits";
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, 0x8000'0000'0000'0015ull);
  GhcbFixture es(VmType::kSevEs);
  EXPECT_EQ(es.vmgexit_msr((uint64_t{1} << 52) | 0x10014).path, ExitPath::kGhcbTerminate);
}

TEST(GhcbInit, SevEsVmcbAsKvmSetsIt) {
  GhcbFixture f(VmType::kSnp);
  const svm::VmcbControlArea& c = f.vmcb.control;
  using svm::Intercept;
  EXPECT_EQ(c.nested_ctl, svm::nested_ctl::kNpEnable | svm::nested_ctl::kSevEnable |
                              svm::nested_ctl::kSevEsEnable);
  EXPECT_EQ(c.vmsa_pa, kVmsaHpa);
  EXPECT_FALSE(svm::is_intercept_set(c, Intercept::kCr0Read));
  EXPECT_FALSE(svm::is_intercept_set(c, Intercept::kCr4Write));
  EXPECT_FALSE(svm::is_intercept_set(c, Intercept::kXsetbv));
  EXPECT_TRUE(svm::is_intercept_set(c, Intercept::kTrapEferWrite));
  EXPECT_TRUE(svm::is_intercept_set(c, Intercept::kTrapCr0Write));
  EXPECT_TRUE(svm::is_intercept_set(c, svm::cr_write_trap_intercept(4)));
  EXPECT_TRUE(svm::is_intercept_set(c, Intercept::kTrapCr8Write));
  EXPECT_EQ(c.intercepts[1], (1u << 7) | (1u << 23)) << "only DR7 read/write";
  EXPECT_TRUE(svm::is_intercept_set(c, Intercept::kVmmcall));

  const svm::SevEsSaveArea v =
      make_initial_vmsa(LongModeStart{.rip = 0x1000, .rsp = 0x8000, .cr3 = 0x10'0000}, 1);
  EXPECT_EQ(v.rip, 0x1000u);
  EXPECT_EQ(v.cr3, 0x10'0000u);
  EXPECT_EQ(v.sev_features, 1u);
  EXPECT_EQ(v.xcr0, 1u);
  EXPECT_NE(v.efer & svm::efer::kLma, 0u);
  EXPECT_NE(v.cs.attrib & svm::seg_attrib::kL, 0u);
}


TEST(GhcbInit, WriteTrapsRecordTheNewValue) {
  GhcbFixture f;
  f.stage(svm::ExitCode::kCr0WriteTrap, 0x8005'0033);
  EXPECT_EQ(f.run_exit().path, ExitPath::kWriteTrap);
  f.stage(svm::ExitCode::kEferWriteTrap, 0x1D01);
  EXPECT_EQ(f.run_exit().action, ExitAction::kResumeGuest);
  f.vmcb.control.exit_code = svm::to_u64(svm::ExitCode::kCr0WriteTrap) + 4;
  f.vmcb.control.exit_info_1 = 0x3606F0;
  f.run_exit();
  EXPECT_EQ(f.vcpu.sev_es.cr0, 0x8005'0033u);
  EXPECT_EQ(f.vcpu.sev_es.efer, 0xD01u) << "SVME dropped";
  EXPECT_EQ(f.vcpu.sev_es.cr4, 0x3606F0u);
}

}  // namespace
}  // namespace snpemu::hv::test
