// GHCB-page VMGEXITs with a hand-built GHCB in guest memory: CPUID, IOIO to the debug console
// (plain and string through the shared buffer), MSR #GP as an exception request, TSC, AP jump
// table, HV features, termination, MMIO through KVM_EXIT_MMIO, and the error answers with KVM's
// exact codes (PLATFORM-FACTS 2.2, 2.4, 2.5 [L] sev.c). Answers are read back from guest memory.
#include <gtest/gtest.h>

#include "base/hex.h"
#include "test/hv/ghcb_fixture.h"

namespace snpemu::hv::test {
namespace {

constexpr uint64_t kCpuid = 0x72, kIoio = 0x7B, kMsr = 0x7C;
constexpr uint64_t kShared = kGhcbGpa + ghcb::kGhcbSharedBufferOffset;

uint64_t ioio_out8(uint16_t port) { return (uint64_t{port} << 16) | svm::ioio_bits::kSz8 | svm::ioio_bits::kA64; }

TEST(GhcbNae, CpuidAnswersInTheGhcb) {
  GhcbFixture f;
  const KvmCpuidEntry2 e{.function = 0x8000'0000, .eax = 0x8000'0021, .ebx = 0x6874'7541,
                         .ecx = 0x444D'4163, .edx = 0x6974'6E65};
  ASSERT_TRUE(f.vmctx.cpuid.set(std::span(&e, 1)).has_value());
  f.call(kCpuid, 0, 0);
  f.set(F::kRax, 0x8000'0000);
  f.set(F::kRcx, 0);
  const uint64_t rip_before = f.vmcb.save.rip;
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kCpuid);
  EXPECT_EQ(f.vmcb.save.rip, rip_before) << "VMGEXIT is trap-like: the hypervisor moves no RIP";
  EXPECT_TRUE(o.ghcb);
  EXPECT_EQ(f.reg(F::kRax), e.eax);
  EXPECT_EQ(f.reg(F::kRbx), e.ebx);
  EXPECT_EQ(f.reg(F::kRcx), e.ecx);
  EXPECT_EQ(f.reg(F::kRdx), e.edx);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), 0u);
  EXPECT_EQ(f.bitmap(), kAnswerBits) << "bitmap cleared, then the answer's fields set";
  EXPECT_FALSE(f.vcpu.sev_es.mapped);
}

TEST(GhcbNae, IoioOutReachesTheDebugConsole) {
  GhcbFixture f;
  f.call(kIoio, ioio_out8(0xE9), 0);
  f.set(F::kRax, 'K');
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kIoKernel);
  EXPECT_EQ(f.vmctx.pio.debug_console.output, "K");
  EXPECT_EQ(f.info1(), 0u);
}

TEST(GhcbNae, StringOutThroughTheSharedBuffer) {
  GhcbFixture f;
  const char msg[] = "hello, ghcb";
  f.put_shared(ghcb::kGhcbSharedBufferOffset, msg, sizeof msg - 1);
  f.call(kIoio, ioio_out8(0xE9) | svm::ioio_bits::kStr | svm::ioio_bits::kRep, sizeof msg - 1);
  f.set(F::kSwScratch, kShared);
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kGhcbStringIoKernel);
  EXPECT_EQ(o.units, sizeof msg - 1);
  EXPECT_EQ(f.vmctx.pio.debug_console.output, "hello, ghcb");
}

TEST(GhcbNae, StringInToTheVmmFillsTheScratchArea) {
  GhcbFixture f;
  f.call(kIoio, (uint64_t{0x60} << 16) | svm::ioio_bits::kTypeIn | svm::ioio_bits::kStr |
                    svm::ioio_bits::kSz8 | svm::ioio_bits::kA64,
         4);
  f.set(F::kSwScratch, kShared + 0x10);
  ExitOutcome o = f.vmgexit();
  ASSERT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kIo);
  EXPECT_EQ(f.vcpu.run.io.count, 4u);
  EXPECT_EQ(f.vcpu.run.io.port, 0x60);
  std::memcpy(f.vcpu.run.pio_data.data(), "WXYZ", 4);
  o = f.complete();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.read_gpa_string(kShared + 0x10, 4), "WXYZ");
  EXPECT_EQ(f.bitmap(), kAnswerBits);
}

TEST(GhcbNae, MissingValidBitsAnswerMissingInput) {
  GhcbFixture f;
  f.set(F::kSwExitCode, kCpuid);
  f.set(F::kSwExitInfo1, 0);  // no sw_exit_info_2 bit
  f.set(F::kRax, 0);
  f.set(F::kRcx, 0);
  ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kGhcbBadInput);
  EXPECT_EQ(f.info1(), 2u) << "malformed input";
  EXPECT_EQ(f.info2(), 4u) << "GHCB_ERR_MISSING_INPUT";

  GhcbFixture g;
  g.call(kCpuid, 0, 0);
  g.set(F::kRax, 1);  // RCX missing
  g.vmgexit();
  EXPECT_EQ(g.info1(), 2u);
  EXPECT_EQ(g.info2(), 4u);
  EXPECT_EQ(g.bitmap(), kAnswerBits);

  GhcbFixture h;
  h.call(kMsr, 1, 0);  // WRMSR without RAX/RDX
  h.set(F::kRcx, 0xC000'0080);
  h.vmgexit();
  EXPECT_EQ(h.info2(), 4u);

  GhcbFixture u;
  u.call(kCpuid, 0, 0);
  u.set(F::kRax, 0);
  u.set(F::kRcx, 0);
  u.page.ghcb_usage = 1;
  u.vmgexit();
  EXPECT_EQ(u.info1(), 2u);
  EXPECT_EQ(u.info2(), 2u) << "GHCB_ERR_INVALID_USAGE";
}

TEST(GhcbNae, ScratchOutsideTheSharedBufferIsInvalid) {
  for (uint64_t scratch : {kGhcbGpa + 0x100, kGhcbGpa + 0xFF0 - 2, uint64_t{0}}) {
    GhcbFixture f;
    f.call(kIoio, ioio_out8(0xE9) | svm::ioio_bits::kStr, 4);
    f.set(F::kSwScratch, scratch);
    const ExitOutcome o = f.vmgexit();
    EXPECT_EQ(o.path, ExitPath::kGhcbBadInput) << "scratch " << hex(scratch);
    EXPECT_EQ(f.info1(), 2u);
    EXPECT_EQ(f.info2(), 3u) << "GHCB_ERR_INVALID_SCRATCH_AREA for scratch " << hex(scratch);
    EXPECT_EQ(f.vmctx.pio.debug_console.output, "");
  }
}

TEST(GhcbNae, UnknownExitCodeIsInvalidEvent) {
  for (uint64_t code : {uint64_t{0x1234}, uint64_t{0x400}, uint64_t{0x8000'0014}}) {
    GhcbFixture f;
    f.call(code, 0, 0);
    f.vmgexit();
    EXPECT_EQ(f.info1(), 2u) << hex(code);
    EXPECT_EQ(f.info2(), 6u) << "GHCB_ERR_INVALID_EVENT for " << hex(code);
  }
}

TEST(GhcbNae, UnknownMsrIsAnExceptionRequest) {
  GhcbFixture f;
  f.call(kMsr, 0, 0);
  f.set(F::kRcx, 0xDEAD);
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kMsrInjectGp);
  EXPECT_EQ(f.info1(), 1u);
  EXPECT_EQ(f.info2(), 0x8000'030Du) << "vector 13, TYPE exception, valid, no error code";
  EXPECT_EQ(f.vmcb.control.event_inj, 0u) << "nothing injected through the VMCB";
}

TEST(GhcbNae, RdtscAndRdtscp) {
  GhcbFixture f;
  f.vmcb.control.tsc_offset = 0x100;
  f.vcpu.msr.tsc_aux = 7;
  f.call(0x87, 0, 0);
  f.vmgexit(0x1'2345'6000);
  EXPECT_EQ(f.reg(F::kRax), 0x2345'6100u);
  EXPECT_EQ(f.reg(F::kRdx), 1u);
  EXPECT_EQ(f.reg(F::kRcx), 7u);
}

TEST(GhcbNae, ApJumpTableSetGetAndBadSubFunction) {
  GhcbFixture f;
  f.call(0x8000'0005, 0, 0x9000);
  f.vmgexit();
  EXPECT_EQ(f.vmctx.ap_jump_table, 0x9000u);
  f.call(0x8000'0005, 1, 0);
  f.vmgexit();
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), 0x9000u);
  f.call(0x8000'0005, 2, 0);
  f.vmgexit();
  EXPECT_EQ(f.info1(), 2u);
  EXPECT_EQ(f.info2(), 5u) << "GHCB_ERR_INVALID_INPUT";
  f.vmctx.sev.ap_jump_table_bad_op_ud = true;
  f.vmgexit();
  EXPECT_EQ(f.info1(), 1u);
  EXPECT_EQ(f.info2(), 0x8000'0306u) << "#UD request (KVM 5.11-5.x)";
}

TEST(GhcbNae, HvFeaturesAndTermination) {
  GhcbFixture f;
  f.call(0x8000'FFFD, 0, 0);
  f.vmgexit();
  EXPECT_EQ(f.info2(), ghcb::kHvFtKvmSupported);
  f.call(0x8000'FFFE, (uint64_t{3} << 4) | 1, 0);
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kGhcbTerminate);
  EXPECT_EQ(f.vcpu.run.system_event.type, kKvmSystemEventSevTerm);
  EXPECT_EQ(f.vcpu.run.system_event.data[0], kGhcbGpa) << "data[0] = the GHCB MSR value";
  EXPECT_NE(f.vcpu.run.message.find("reason set 1 code 3"), std::string::npos)
      << f.vcpu.run.message;
}

TEST(GhcbNae, MmioReadInEightByteFragments) {
  GhcbFixture f;
  f.call(0x8000'0001, 0xFED0'0000, 12);
  f.set(F::kSwScratch, kShared);
  ExitOutcome o = f.vmgexit();
  ASSERT_EQ(o.path, ExitPath::kGhcbMmioExit);
  EXPECT_EQ(f.vcpu.run.mmio.phys_addr, 0xFED0'0000u);
  EXPECT_EQ(f.vcpu.run.mmio.len, 8u);
  EXPECT_EQ(f.vcpu.run.mmio.is_write, 0);
  std::memcpy(f.vcpu.run.mmio.data.data(), "ABCDEFGH", 8);
  o = f.complete();
  ASSERT_EQ(o.path, ExitPath::kGhcbMmioExit);
  EXPECT_EQ(f.vcpu.run.mmio.phys_addr, 0xFED0'0008u);
  EXPECT_EQ(f.vcpu.run.mmio.len, 4u);
  std::memcpy(f.vcpu.run.mmio.data.data(), "IJKL", 4);
  o = f.complete();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.read_gpa_string(kShared, 12), "ABCDEFGHIJKL");
}

TEST(GhcbNae, GhcbOutsideMemoryResumesWithNothingDone) {
  GhcbFixture f;
  f.vmcb.control.ghcb_gpa = 0x40'0000'0000;  // no memslot
  f.stage(svm::ExitCode::kVmgexit);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kGhcbNoGhcb);
  EXPECT_FALSE(f.vcpu.sev_es.mapped);
}

TEST(GhcbNae, SnpRequiresTheRegisteredGhcb) {
  GhcbFixture f(VmType::kSnp);
  f.call(kCpuid, 0, 0);
  f.set(F::kRax, 0);
  f.set(F::kRcx, 0);
  ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kGhcbUnregistered);
  ASSERT_TRUE(o.kvm_run_error.has_value());
  EXPECT_EQ(*o.kvm_run_error, KvmErrno::kEinval);
  f.vmgexit_msr(((kGhcbGpa >> 12) << 12) | 0x012);
  o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kCpuid);
}

TEST(GhcbNae, UnsupportedEventFailsKvmRun) {
  GhcbFixture f;
  f.call(0x8000'FFFF, 0x29, 0);
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kGhcbUnsupported);
  ASSERT_TRUE(o.kvm_run_error.has_value());
  EXPECT_EQ(*o.kvm_run_error, KvmErrno::kEinval);
}


TEST(GhcbNae, InFromTheVmmLandsInGhcbRax) {
  GhcbFixture f;
  f.call(kIoio, (uint64_t{0x71} << 16) | svm::ioio_bits::kTypeIn | svm::ioio_bits::kSz16 |
                    svm::ioio_bits::kA64,
         0);
  ASSERT_EQ(f.vmgexit().path, ExitPath::kIoUserspace);
  EXPECT_EQ(f.vcpu.run.io.size, 2);
  EXPECT_TRUE(f.vcpu.sev_es.mapped) << "the GHCB stays mapped across the round trip";
  f.vcpu.run.pio_data[0] = 0x34;
  f.vcpu.run.pio_data[1] = 0x12;
  EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.reg(F::kRax), 0x1234u) << "IN without a valid RAX: the zeroed register file merged";
  EXPECT_EQ(f.bitmap(), kAnswerBits);
}

// OUTS of 5000 bytes from a scratch area in guest memory (outside the GHCB) to a VMM port:
// rounds of one PIO page (4096 + 904), the data in order.
TEST(GhcbNae, StringOutFromGuestMemoryInPioPageRounds) {
  GhcbFixture f;
  constexpr uint64_t kBuf = 0x30'0000;
  std::string data(5000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  f.write_gpa(kBuf, data.data(), data.size());
  f.call(kIoio, (uint64_t{0x2F8} << 16) | svm::ioio_bits::kStr | svm::ioio_bits::kRep |
                    svm::ioio_bits::kSz8 | svm::ioio_bits::kA64,
         data.size());
  f.set(F::kSwScratch, kBuf);
  ExitOutcome o = f.vmgexit();
  ASSERT_EQ(o.path, ExitPath::kGhcbStringIoExit);
  ASSERT_EQ(f.vcpu.run.io.count, 4096u);
  std::string got(reinterpret_cast<const char*>(f.vcpu.run.pio_data.data()), 4096);
  o = f.complete();
  ASSERT_EQ(o.path, ExitPath::kGhcbStringIoExit);
  ASSERT_EQ(f.vcpu.run.io.count, 904u);
  got.append(reinterpret_cast<const char*>(f.vcpu.run.pio_data.data()), 904);
  EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
  EXPECT_EQ(got, data);
  EXPECT_EQ(f.info1(), 0u);
}

TEST(GhcbNae, VmmcallMapGpaRangeReturnsRetInRax) {
  GhcbFixture f;
  f.call(0x81, 0, 0);
  f.set(F::kRax, kKvmHcMapGpaRange);
  f.set(F::kRbx, 0x5000);
  f.set(F::kRcx, 2);
  f.set(F::kRdx, 0x10);
  f.set(F::kCpl, 0);
  ASSERT_EQ(f.vmgexit().path, ExitPath::kHypercallExit);
  EXPECT_EQ(f.vcpu.run.hypercall.args[0], 0x5000u);
  EXPECT_EQ(f.vcpu.run.hypercall.args[1], 2u);
  EXPECT_EQ(f.vcpu.run.hypercall.args[2], 0x10u);
  EXPECT_EQ(f.vcpu.run.hypercall.flags, kKvmExitHypercallLongMode);
  f.vcpu.run.hypercall.ret = 0;
  f.complete();
  EXPECT_EQ(f.reg(F::kRax), 0u);
  EXPECT_EQ(f.reg(F::kRbx), 0x5000u) << "RBX written back as synced";
}

TEST(GhcbNae, MmioWriteCarriesTheScratchData) {
  GhcbFixture f;
  f.put_shared(ghcb::kGhcbSharedBufferOffset + 8, "\x11\x22\x33\x44", 4);
  f.call(0x8000'0002, 0xFEC0'0010, 4);
  f.set(F::kSwScratch, kShared + 8);
  ASSERT_EQ(f.vmgexit().path, ExitPath::kGhcbMmioExit);
  EXPECT_EQ(f.vcpu.run.mmio.is_write, 1);
  EXPECT_EQ(f.vcpu.run.mmio.len, 4u);
  EXPECT_EQ(f.vcpu.run.mmio.data[0], 0x11);
  EXPECT_EQ(f.vcpu.run.mmio.data[3], 0x44);
  EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
}


// AP_HLT_LOOP: parked with the GHCB still mapped; a later SIPI answers SW_EXITINFO2 = 1.
TEST(GhcbNae, ApHltLoopAnswersAfterTheSecondSipi) {
  GhcbFixture f;
  f.call(0x8000'0004, 0, 0);
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.path, ExitPath::kGhcbApResetHold);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kApResetHold);
  EXPECT_EQ(f.vcpu.sev_es.mp_state, MpState::kApResetHold);
  EXPECT_TRUE(f.vcpu.sev_es.mapped);
  sev_deliver_sipi(f.vcpu, f.vmcb);  // first SIPI: the VMM's initial state, no answer
  sev_deliver_sipi(f.vcpu, f.vmcb);
  EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), 1u) << "woken by SIPI";
  EXPECT_EQ(f.vcpu.sev_es.mp_state, MpState::kRunnable);

  f.call(0x8000'0004, 0, 0);  // parked again, resumed without a SIPI: spurious, EXITINFO2 = 0
  f.vmgexit();
  f.complete();
  EXPECT_EQ(f.info2(), 0u);
}

TEST(GhcbInit, DebugSwapDropsDr7Intercepts) {
  ExitFixture f(VmType::kSevEs);
  init_vmcb_sev_es(f.vmcb, VmcbSetup{.maps = f.maps, .asid = Asid{1}, .nested_cr3 = f.npt->root()},
                   SevEsVmcbSetup{.vmsa_pa = Hpa{kVmsaHpa},
                                  .vmsa_features = svm::sev_features::kDebugSwap,
                                  .allowed_sev_features = true});
  EXPECT_EQ(f.vmcb.control.intercepts[1], 0u);
  EXPECT_EQ(f.vmcb.control.allowed_sev_features,
            svm::sev_features::kDebugSwap | svm::kAllowedSevFeaturesValid);
}

}  // namespace
}  // namespace snpemu::hv::test
