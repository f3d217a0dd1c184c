// test/svm/exit_rules_test.cc: exit-code table, SEV-ES automatic-exit classification,
// TLB_CONTROL decoding and the NRIPS rule.
#include <gtest/gtest.h>

#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

TEST(ExitCode, ValuesFromUapi) {
  // Linux uapi/asm/svm.h; PLATFORM-FACTS 5.2.
  EXPECT_EQ(to_u64(ExitCode::kCpuid), 0x072u);
  EXPECT_EQ(to_u64(ExitCode::kIoio), 0x07Bu);
  EXPECT_EQ(to_u64(ExitCode::kMsr), 0x07Cu);
  EXPECT_EQ(to_u64(ExitCode::kVmmcall), 0x081u);
  EXPECT_EQ(to_u64(ExitCode::kXsetbv), 0x08Du);
  EXPECT_EQ(to_u64(ExitCode::kNpf), 0x400u);
  EXPECT_EQ(to_u64(ExitCode::kVmgexit), 0x403u);
  EXPECT_EQ(to_u64(ExitCode::kInvalid), static_cast<uint64_t>(-1));
  EXPECT_EQ(exit_read_cr(3), ExitCode::kReadCr3);
  EXPECT_EQ(exit_write_cr(8), ExitCode::kWriteCr8);
  EXPECT_EQ(exit_write_dr(7), ExitCode::kWriteDr7);
  EXPECT_EQ(to_u64(exit_exception(14)), 0x04Eu);
  EXPECT_EQ(exit_cr_write_trap(4), ExitCode::kCr4WriteTrap);
}

TEST(ExitCode, Names) {
  EXPECT_EQ(exit_code_name(0x003), "VMEXIT_CR3_READ");
  EXPECT_EQ(exit_code_name(0x01F), "VMEXIT_CR15_WRITE");
  EXPECT_EQ(exit_code_name(0x027), "VMEXIT_DR7_READ");
  EXPECT_EQ(exit_code_name(0x04E), "VMEXIT_EXCP14");
  EXPECT_EQ(exit_code_name(0x060), "VMEXIT_INTR");
  EXPECT_EQ(exit_code_name(0x072), "VMEXIT_CPUID");
  EXPECT_EQ(exit_code_name(0x07F), "VMEXIT_SHUTDOWN");
  EXPECT_EQ(exit_code_name(0x08F), "VMEXIT_EFER_WRITE_TRAP");
  EXPECT_EQ(exit_code_name(0x09F), "VMEXIT_CR15_WRITE_TRAP");
  EXPECT_EQ(exit_code_name(0x0A6), "VMEXIT_IDLE_HLT");
  EXPECT_EQ(exit_code_name(0x400), "VMEXIT_NPF");
  EXPECT_EQ(exit_code_name(0x403), "VMEXIT_VMGEXIT");
  EXPECT_EQ(exit_code_name(~uint64_t{0}), "VMEXIT_INVALID");
  EXPECT_TRUE(exit_code_name(0x0A7).empty());
  EXPECT_TRUE(exit_code_name(0x8000'0010).empty()) << "NAE software codes are not VMEXITs";
  // Every code 0x000-0x0A6 has a name.
  for (uint64_t c = 0; c <= 0x0A6; ++c) EXPECT_FALSE(exit_code_name(c).empty()) << std::hex << c;
}

TEST(SevEsExit, GhcbEventsRaiseVc) {
  // PLATFORM-FACTS 2.3: hardware exit codes the guest forwards through the GHCB.
  for (uint64_t c : {0x027ull, 0x037ull, 0x06Eull, 0x06Full, 0x072ull, 0x076ull, 0x07Bull, 0x07Cull,
                     0x081ull, 0x087ull, 0x089ull, 0x08Aull, 0x08Bull}) {
    EXPECT_EQ(classify_sev_es_exit(c, 0), SevEsExitKind::kVc) << exit_code_name(c);
  }
  // Other instruction intercepts also become #VC (UNCONFIRMED choice).
  EXPECT_EQ(classify_sev_es_exit(to_u64(ExitCode::kReadCr0), 0), SevEsExitKind::kVc);
  EXPECT_EQ(classify_sev_es_exit(to_u64(ExitCode::kXsetbv), 0), SevEsExitKind::kVc);
  EXPECT_EQ(classify_sev_es_exit(to_u64(ExitCode::kInvlpg), 0), SevEsExitKind::kVc);
}

TEST(SevEsExit, AutomaticExits) {
  for (ExitCode c :
       {ExitCode::kIntr, ExitCode::kNmi, ExitCode::kSmi, ExitCode::kInit, ExitCode::kVintr,
        ExitCode::kPause, ExitCode::kHlt, ExitCode::kShutdown, ExitCode::kEferWriteTrap,
        ExitCode::kCr4WriteTrap, ExitCode::kVmgexit, ExitCode::kInvalid, ExitCode::kBusLock}) {
    EXPECT_EQ(classify_sev_es_exit(to_u64(c), 0), SevEsExitKind::kAutomatic)
        << exit_code_name(to_u64(c));
  }
  EXPECT_EQ(classify_sev_es_exit(to_u64(exit_exception(17)), 0), SevEsExitKind::kAutomatic)
      << "#AC intercept";
}

TEST(SevEsExit, NpfDependsOnRsvd) {
  // PLATFORM-FACTS 5.5: MMIO faults (#NPF with RSVD) reach the guest as #VC.
  const uint64_t npf = to_u64(ExitCode::kNpf);
  EXPECT_EQ(classify_sev_es_exit(npf, 0x0000'0001'0000'0006ull), SevEsExitKind::kAutomatic);
  EXPECT_EQ(classify_sev_es_exit(npf, 0x0000'0001'0000'000Dull), SevEsExitKind::kVc);
  EXPECT_EQ(kVcVector, 29);
}

TEST(TlbControl, DefinedValues) {
  EXPECT_EQ(decode_tlb_control(0), TlbControl::kDoNothing);
  EXPECT_EQ(decode_tlb_control(1), TlbControl::kFlushAll);
  EXPECT_EQ(decode_tlb_control(3), TlbControl::kFlushAsid);
  EXPECT_EQ(decode_tlb_control(7), TlbControl::kFlushAsidNonGlobal);
  for (int v : {2, 4, 5, 6, 8, 0xFF}) {
    EXPECT_FALSE(decode_tlb_control(static_cast<uint8_t>(v)).has_value()) << v;
  }
}

TEST(NextRip, WhichExitsWriteIt) {
  // APM vol 2 15.7.1: instruction intercepts, MSR, IOIO.
  for (ExitCode c : {ExitCode::kCpuid, ExitCode::kIoio, ExitCode::kMsr, ExitCode::kHlt,
                     ExitCode::kVmmcall, ExitCode::kRdtscp, ExitCode::kXsetbv, ExitCode::kRdpru,
                     ExitCode::kPushf, ExitCode::kInvlpga, ExitCode::kIdtrRead, ExitCode::kWriteCr3,
                     ExitCode::kReadDr7, ExitCode::kCr0SelWrite}) {
    EXPECT_TRUE(exit_writes_next_rip(to_u64(c), false)) << exit_code_name(to_u64(c));
  }
  // Not for asynchronous events, traps, NPF, VMGEXIT, VMEXIT_INVALID.
  for (ExitCode c : {ExitCode::kIntr, ExitCode::kNmi, ExitCode::kVintr, ExitCode::kTaskSwitch,
                     ExitCode::kShutdown, ExitCode::kEferWriteTrap, ExitCode::kCr8WriteTrap,
                     ExitCode::kNpf, ExitCode::kVmgexit, ExitCode::kInvalid, ExitCode::kBusLock}) {
    EXPECT_FALSE(exit_writes_next_rip(to_u64(c), false)) << exit_code_name(to_u64(c));
  }
  // Exceptions: only #BP / #OF / #BR raised by INT3 / INTO / BOUND.
  EXPECT_TRUE(exit_writes_next_rip(to_u64(exit_exception(3)), true));
  EXPECT_TRUE(exit_writes_next_rip(to_u64(exit_exception(4)), true));
  EXPECT_TRUE(exit_writes_next_rip(to_u64(exit_exception(5)), true));
  EXPECT_FALSE(exit_writes_next_rip(to_u64(exit_exception(3)), false)) << "#BP from INT 3 (CD 03)";
  EXPECT_FALSE(exit_writes_next_rip(to_u64(exit_exception(14)), true)) << "#PF";
  EXPECT_FALSE(exit_writes_next_rip(to_u64(exit_exception(13)), false)) << "#GP";
}

}  // namespace
}  // namespace snpemu::svm

namespace snpemu::svm {
namespace {

TEST(ExitInfo, Msr) {
  EXPECT_EQ(msr_exit_info_1(MsrAccess::kRead), 0u);
  EXPECT_EQ(msr_exit_info_1(MsrAccess::kWrite), 1u);
  EXPECT_EQ(decode_msr_exit_info_1(0), MsrAccess::kRead);
  EXPECT_EQ(decode_msr_exit_info_1(1), MsrAccess::kWrite);
  EXPECT_FALSE(decode_msr_exit_info_1(2).has_value());
  EXPECT_FALSE(decode_msr_exit_info_1(uint64_t{1} << 32 | 1).has_value());
}

TEST(ExitInfo, CrDrDecodeAssist) {
  // mov cr3, r11: bit 63 | 11.
  EXPECT_EQ(crdr_exit_info_1(true, 11), 0x8000'0000'0000'000Bull);
  EXPECT_EQ(crdr_exit_info_1(true, 0), 0x8000'0000'0000'0000ull);
  // lmsw / clts: no GPR, bit 63 clear.
  EXPECT_EQ(crdr_exit_info_1(false, 5), 0u);
}

}  // namespace
}  // namespace snpemu::svm
