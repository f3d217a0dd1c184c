// The SEV-ES payloads of test/guests run natively against the fake KVM: the same C as the
// guest ELFs minus the IDT; the fake's OUT/IN/CPUID hooks enter ghcb_vc_handle as the #VC stub
// would, and its CR3 points at a 2 MiB-leaf tree around the payload's GHCB. The console, the #VC
// count and the termination the emulator run must reproduce are checked here first.
//
// The fake's CPUID hash gives 0x8000001F EBX[5:0] = 49, so the fake announces C-bit 49 in
// SEV_INFO too (all three CPUID paths and the negotiated C-bit must agree in the payload).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test/ghcb_guest/guest_fixture.h"

extern "C" long guest_main_sev_es_hello(void);
extern "C" long guest_main_sev_es_terminate(void);
extern "C" struct ghcb sev_es_hello_ghcb;
extern "C" uint64_t sev_es_hello_pt[512];
extern "C" struct ghcb_ctx sev_es_hello_ctx;

namespace snpemu::test {
namespace {

constexpr unsigned kFakeCBit = 49;

struct HelloCase {
  bool snp;
  const char* console;
};

class HelloPayload : public ::testing::TestWithParam<HelloCase> {};

TEST_P(HelloPayload, PrintsAgreesAndTerminatesCleanly) {
  ASSERT_EQ(FakeKvm::cpuid_value(0x8000001F, 0, 1) & 0x3F, kFakeCBit);
  FakeKvmOptions o;
  o.snp = GetParam().snp;
  o.sev_status = GetParam().snp ? 0x7 : 0x3;
  o.c_bit = kFakeCBit;
  FakeKvm kvm(o);
  FakeKvm::Scope scope(kvm);
  const uint64_t ghcb_gpa = reinterpret_cast<uint64_t>(&sev_es_hello_ghcb);
  TwoMegTree tree(ghcb_gpa, kFakeCBit);
  kvm.options().cr3 = tree.cr3();
  if (GetParam().snp) kvm.set_private(ghcb_gpa, 1, true, false);
  kvm.set_vc_ctx(&sev_es_hello_ctx);

  EXPECT_EQ(guest_main_sev_es_hello(), 0);
  std::string errors;
  for (const auto& e : kvm.errors()) errors += e + "\n";
  EXPECT_EQ(errors, "");
  EXPECT_EQ(kvm.console(), GetParam().console);
  ASSERT_TRUE(kvm.termination().has_value());
  EXPECT_EQ(kvm.termination()->reason_set, 0u);
  EXPECT_EQ(kvm.termination()->reason_code, 0u);
  EXPECT_EQ(kvm.ghcb_msr(), 0x100u) << "TERM_REQ, set 0, code 0";
  const uint64_t pte = tree.pd->e[pt_index(ghcb_gpa, 2)] & 0x80
                           ? 0
                           : sev_es_hello_pt[pt_index(ghcb_gpa, 1)];
  EXPECT_NE(pte, 0u) << "the PDE was split into sev_es_hello_pt";
  EXPECT_EQ(pte & tree.c, 0u) << "GHCB PTE " << hex(pte) << " keeps the C-bit";
  if (GetParam().snp) {
    EXPECT_EQ(kvm.registered_gpa(), ghcb_gpa);
    EXPECT_FALSE(kvm.page(ghcb_gpa).is_private);
  } else {
    EXPECT_FALSE(kvm.registered_gpa().has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Modes, HelloPayload,
    ::testing::Values(HelloCase{true,
                                "sev_es_hello: protocol v2 snp=1\n"
                                "cbit msr=49 ghcb=49 insn=49\n"
                                "in 0xe9 -> 0x000000000000005a\n"
                                "sev_es_hello: ok vc=113\n"},
                      HelloCase{false,
                                "sev_es_hello: protocol v2 snp=0\n"
                                "cbit msr=49 ghcb=49 insn=49\n"
                                "in 0xe9 -> 0x000000000000005a\n"
                                "sev_es_hello: ok vc=113\n"}),
    [](const auto& p) { return p.param.snp ? std::string("Snp") : std::string("SevEs"); });

TEST(TerminatePayload, AsksForSetFCodeA5) {
  FakeKvm kvm;
  FakeKvm::Scope scope(kvm);
  EXPECT_EQ(guest_main_sev_es_terminate(), 2) << "natively the halt returns";
  ASSERT_TRUE(kvm.termination().has_value());
  EXPECT_EQ(kvm.termination()->reason_set, 0xFu);
  EXPECT_EQ(kvm.termination()->reason_code, 0xA5u);
  EXPECT_EQ(kvm.ghcb_msr(), 0xA5F100u) << "the value the VMM's SEV_TERM event carries";
  EXPECT_EQ(kvm.halts(), 1u);
}

}  // namespace
}  // namespace snpemu::test
