// The #VC handler's dispatch (ghcb/guest/vc.c) against the fake KVM built on //ghcb: a frame
// as the stub saves it, RIP pointing at real instruction bytes, the error code = the SVM exit
// code. Each case checks the registers written back, the RIP advance, what the host saw, and
// the termination reason when the handler must give up.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "test/ghcb_guest/guest_fixture.h"

namespace snpemu::test {
namespace {

class VcTest : public GuestTest {
 protected:
  /// A frame whose RIP points at `bytes` (kept alive in the fixture; padded to 15 bytes).
  ghcb_vc_frame frame(uint64_t exit_code, std::vector<uint8_t> bytes) {
    bytes.resize(15, 0x90);
    insn_ = bytes;
    ghcb_vc_frame f{};
    f.error_code = exit_code;
    f.vector = 29;
    f.rip = rip0();
    return f;
  }
  uint64_t rip0() const { return reinterpret_cast<uint64_t>(insn_.data()); }
  std::vector<uint8_t> insn_;
};

TEST_F(VcTest, CpuidThroughTheGhcbOnceSetUp) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_CPUID, {0x0F, 0xA2});
  f.rax = 0xFFFF'FFFF'8000'001Full;  // upper half ignored: CPUID takes EAX
  f.rcx = 3;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_OK) << errors() << termination();
  EXPECT_EQ(f.rax, FakeKvm::cpuid_value(0x8000001F, 3, 0));
  EXPECT_EQ(f.rbx, FakeKvm::cpuid_value(0x8000001F, 3, 1));
  EXPECT_EQ(f.rcx, FakeKvm::cpuid_value(0x8000001F, 3, 2));
  EXPECT_EQ(f.rdx, FakeKvm::cpuid_value(0x8000001F, 3, 3));
  EXPECT_EQ(f.rip, rip0() + 2) << "CPUID is 0F A2";
  EXPECT_EQ(count_events("cpuid_msr"), 0u) << "a GHCB is up: no MSR-protocol CPUID";
  EXPECT_EQ(kvm_.last_xcr0(), 1u);
  EXPECT_EQ(ctx_.vc_count, 1u);
}

TEST_F(VcTest, CpuidThroughTheMsrProtocolBeforeAGhcb) {
  // The fixture's context has a GHCB pointer but GPA 0: not ready, as Linux's early handler.
  ghcb_vc_frame f = frame(GHCB_EXIT_CPUID, {0x0F, 0xA2});
  f.rax = 0x8000001F;
  f.rcx = 7;  // the MSR protocol cannot carry ECX
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_OK) << errors() << termination();
  EXPECT_EQ(f.rbx, FakeKvm::cpuid_value(0x8000001F, 0, 1));
  EXPECT_EQ(f.rdx, FakeKvm::cpuid_value(0x8000001F, 0, 3));
  EXPECT_EQ(count_events("cpuid_msr"), 4u) << "one request per register";
  EXPECT_EQ(f.rip, rip0() + 2);
}

TEST_F(VcTest, OutImm8PrintsTheLowByteAndAdvances) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_IOIO, {0xE6, 0xE9});
  f.rax = 0x1234'5678'9ABC'DE41ull;  // AL = 'A'
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_OK) << errors() << termination();
  EXPECT_EQ(kvm_.console(), "A");
  EXPECT_EQ(f.rip, rip0() + 2);
  EXPECT_EQ(f.rax, 0x1234'5678'9ABC'DE41ull) << "OUT leaves RAX alone";
  // EXITINFO1: port 0xE9 << 16 | SZ8 | A64 (APM vol 2 15.10.2).
  EXPECT_EQ(count_events("ioio port=0xe9 info1=0xe90210"), 1u) << errors();
}

TEST_F(VcTest, OutDxWordTakesThePortFromDx) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_IOIO, {0x66, 0xEF});
  f.rax = 0xABCD'1234;
  f.rdx = 0xFFFF'0000'0000'0080ull;  // port = DX
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_OK) << errors() << termination();
  EXPECT_EQ(f.rip, rip0() + 2);
  EXPECT_EQ(count_events("ioio port=0x80 info1=0x800220"), 1u) << "SZ16 | A64";
}

TEST_F(VcTest, InMergesOrZeroExtendsAsTheInstructionDoes) {
  set_up_ghcb();
  // The fake answers every IN with 0x5A5A5A5A masked to the size.
  ghcb_vc_frame f8 = frame(GHCB_EXIT_IOIO, {0xE4, 0x71});
  f8.rax = 0x1122'3344'5566'7788ull;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f8), GHCB_OK) << errors();
  EXPECT_EQ(f8.rax, 0x1122'3344'5566'775Aull) << "IN AL keeps RAX[63:8]";
  EXPECT_EQ(f8.rip, rip0() + 2);

  ghcb_vc_frame f16 = frame(GHCB_EXIT_IOIO, {0x66, 0xED});
  f16.rax = 0x1122'3344'5566'7788ull;
  f16.rdx = 0x71;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f16), GHCB_OK) << errors();
  EXPECT_EQ(f16.rax, 0x1122'3344'5566'5A5Aull) << "IN AX keeps RAX[63:16]";

  ghcb_vc_frame f32 = frame(GHCB_EXIT_IOIO, {0xED});
  f32.rax = 0x1122'3344'5566'7788ull;
  f32.rdx = 0x71;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f32), GHCB_OK) << errors();
  EXPECT_EQ(f32.rax, 0x5A5A'5A5Aull) << "IN EAX zero-extends into RAX";
  EXPECT_EQ(f32.rip, rip0() + 1);
}

TEST_F(VcTest, StringIoIsRefusedWithItsReason) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_IOIO, {0xF3, 0x6E});
  EXPECT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "2/3") << "GHCB_TERM_SET_VC / GHCB_TERM_VC_STRING_IO";
  EXPECT_EQ(f.rip, rip0()) << "RIP not advanced";
  EXPECT_EQ(kvm_.halts(), 1u);
}

TEST_F(VcTest, IoBeforeAGhcbTerminates) {
  ghcb_vc_frame f = frame(GHCB_EXIT_IOIO, {0xEE});
  EXPECT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "2/5") << "GHCB_TERM_VC_NO_GHCB";
}

TEST_F(VcTest, WrmsrThenRdmsrRoundTrip) {
  set_up_ghcb();
  ghcb_vc_frame w = frame(GHCB_EXIT_MSR, {0x0F, 0x30});
  w.rcx = 0xC001'1234;
  w.rax = 0xFFFF'FFFF'DEAD'BEEFull;  // WRMSR takes EAX
  w.rdx = 0x1122'3344;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &w), GHCB_OK) << errors() << termination();
  EXPECT_EQ(kvm_.msrs().at(0xC0011234), 0x1122'3344'DEAD'BEEFull);
  EXPECT_EQ(w.rip, rip0() + 2);

  ghcb_vc_frame r = frame(GHCB_EXIT_MSR, {0x0F, 0x32});
  r.rcx = 0xC001'1234;
  r.rax = r.rdx = ~0ull;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &r), GHCB_OK) << errors() << termination();
  EXPECT_EQ(r.rax, 0xDEAD'BEEFull) << "EAX zero-extended";
  EXPECT_EQ(r.rdx, 0x1122'3344ull);
  EXPECT_EQ(r.rip, rip0() + 2);
}

TEST_F(VcTest, HypervisorGpOnMsrTerminatesAsAnUnhandledVector) {
  set_up_ghcb();
  kvm_.options().inject_vector = 13;
  kvm_.options().inject_error_code = 0;
  ghcb_vc_frame r = frame(GHCB_EXIT_MSR, {0x0F, 0x32});
  r.rcx = 0xDEAD;
  EXPECT_EQ(ghcb_vc_handle(&ctx_, &r), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "3/13") << "GHCB_TERM_SET_VECTOR, #GP";
}

TEST_F(VcTest, RdtscAndRdtscp) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_RDTSC, {0x0F, 0x31});
  f.rax = f.rdx = ~0ull;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_OK) << errors() << termination();
  EXPECT_EQ((f.rdx << 32) | f.rax, kvm_.options().tsc);
  EXPECT_EQ(f.rip, rip0() + 2);

  ghcb_vc_frame p = frame(GHCB_EXIT_RDTSCP, {0x0F, 0x01, 0xF9});
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &p), GHCB_OK) << errors() << termination();
  EXPECT_EQ((p.rdx << 32) | p.rax, kvm_.options().tsc);
  EXPECT_EQ(p.rcx, kvm_.options().tsc_aux);
  EXPECT_EQ(p.rip, rip0() + 3);
}

TEST_F(VcTest, VmmcallPassesArgumentsAndReturnsRax) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_VMMCALL, {0x0F, 0x01, 0xD9});
  f.rax = 10;
  f.rbx = 11;
  f.rcx = 12;
  f.rdx = 13;
  f.rsi = 14;
  ASSERT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_OK) << errors() << termination();
  EXPECT_EQ(kvm_.last_vmmcall(), (std::vector<uint64_t>{10, 11, 12, 13, 14, 0}));
  EXPECT_EQ(f.rax, 11u) << "the fake answers RAX + 1";
  EXPECT_EQ(f.rip, rip0() + 3);
}

TEST_F(VcTest, BytesThatAreNotTheNamedInstructionTerminate) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_CPUID, {0x90, 0x90});
  EXPECT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "2/2") << "GHCB_TERM_VC_DECODE";
  EXPECT_EQ(f.rip, rip0());
}

TEST_F(VcTest, UnsupportedCodeTerminatesUnlessTheHookTakesIt) {
  set_up_ghcb();
  ghcb_vc_frame f = frame(GHCB_EXIT_NOT_VALIDATED, {0x48, 0x8B, 0x00});
  EXPECT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "2/1") << "GHCB_TERM_VC_UNSUPPORTED";
}

int g_hook_calls = 0;
int hook_takes_404(ghcb_ctx*, ghcb_vc_frame* f) {
  ++g_hook_calls;
  if (f->error_code != GHCB_EXIT_NOT_VALIDATED) return 0;
  f->rax = 0x404;
  return 1;
}

TEST_F(VcTest, HookHandlesWhatTheLibraryDoesNot) {
  set_up_ghcb();
  g_hook_calls = 0;
  ctx_.vc_hook = hook_takes_404;
  ghcb_vc_frame f = frame(GHCB_EXIT_NOT_VALIDATED, {0x48, 0x8B, 0x00});
  EXPECT_EQ(ghcb_vc_handle(&ctx_, &f), GHCB_OK);
  EXPECT_EQ(f.rax, 0x404u);
  EXPECT_EQ(f.rip, rip0()) << "the hook decides RIP; here the access is retried";
  EXPECT_EQ(termination(), "none");
  ghcb_vc_frame g = frame(0x76 /* INVD */, {0x0F, 0x08});
  EXPECT_EQ(ghcb_vc_handle(&ctx_, &g), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "2/1");
  EXPECT_EQ(g_hook_calls, 2);
}

TEST_F(VcTest, PlainOutConsoleGoesThroughTheHandler) {
  set_up_ghcb();
  kvm_.set_vc_ctx(&ctx_);
  ghcb_out_puts("hi");
  ghcb_out_put_hex(0xAB);
  EXPECT_EQ(kvm_.console(), "hi0x00000000000000ab");
  EXPECT_EQ(ghcb_in_byte(0xE9), 0x5Au);
  EXPECT_EQ(ctx_.vc_count, 21u) << "2 + 18 OUTs and 1 IN";
  EXPECT_EQ(errors(), "");
}

}  // namespace
}  // namespace snpemu::test
