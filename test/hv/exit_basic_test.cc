// Exit handlers with hand-built VMCBs: CPUID, MSR (with the exact #GP EVENTINJ encoding),
// VMMCALL, HLT, SHUTDOWN, SVM instructions, interrupts, re-injection from exit_int_info,
// VMEXIT_INVALID and exit codes without a handler.
#include <gtest/gtest.h>

#include "test/hv/exit_fixture.h"

namespace snpemu::hv::test {
namespace {

using svm::ExitCode;

constexpr uint64_t kNext = kGuestRip + 2;
// EVENTINJ for #GP(0): vector 13, TYPE 3 (exception), EV (bit 11), V (bit 31). APM vol 2 15.20.
constexpr uint32_t kGpEventInj = 0x8000'0B0D;
constexpr uint32_t kUdEventInj = 0x8000'0306;

TEST(ExitCpuid, ReturnsTheTableEntryAndAdvancesRip) {
  ExitFixture f;
  const KvmCpuidEntry2 entries[] = {
      {.function = 0, .eax = 0xD, .ebx = 0x6874'7541, .ecx = 0x444D'4163, .edx = 0x6974'6E65},
      {.function = 7, .index = 0, .flags = kKvmCpuidFlagSignificantIndex, .ebx = 0x1111},
      {.function = 7, .index = 1, .flags = kKvmCpuidFlagSignificantIndex, .eax = 0x2222},
  };
  ASSERT_TRUE(f.vmctx.cpuid.set(entries).has_value());
  f.vmcb.save.rax = 0xFFFF'FFFF'0000'0007ull;  // upper half ignored
  f.vcpu.gprs.r[kRcx] = 1;
  f.vcpu.gprs.r[kRbx] = 0xDEAD'BEEF'DEAD'BEEFull;
  f.vmcb.control.int_state = svm::int_state::kInterruptShadow;
  f.stage(ExitCode::kCpuid, 0, 0, kNext);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kCpuid);
  EXPECT_EQ(f.vmcb.save.rax, 0x2222u);
  EXPECT_EQ(f.vcpu.gprs.r[kRbx], 0u) << "32-bit outputs zero-extend";
  EXPECT_EQ(f.vcpu.gprs.r[kRcx], 0u);
  EXPECT_EQ(f.vmcb.save.rip, kNext);
  EXPECT_EQ(f.vmcb.control.int_state & 1, 0u) << "skipping clears the interrupt shadow";

  f.vmcb.save.rax = 0;
  f.stage(ExitCode::kCpuid, 0, 0, kNext + 2);
  f.run_exit();
  EXPECT_EQ(f.vcpu.gprs.r[kRbx], 0x6874'7541u) << "index ignored without the significant flag";
  f.vmcb.save.rax = 0x8000'0000;
  f.stage(ExitCode::kCpuid, 0, 0, kNext + 4);
  f.run_exit();
  EXPECT_EQ(f.vmcb.save.rax, 0u) << "absent leaf reads zeros (AMD guest)";
}

TEST(ExitCpuid, RuntimeBitsFollowGuestState) {
  ExitFixture f;
  const KvmCpuidEntry2 leaf1{.function = 1, .ecx = (1u << 26) | (1u << 27), .edx = 0};
  ASSERT_TRUE(f.vmctx.cpuid.set(std::span(&leaf1, 1)).has_value());
  f.vmcb.save.rax = 1;
  f.stage(ExitCode::kCpuid, 0, 0, kNext);
  f.run_exit();
  EXPECT_EQ(f.vcpu.gprs.r[kRcx] & (1u << 27), 0u) << "OSXSAVE clear while CR4.OSXSAVE is clear";
  EXPECT_NE(f.vcpu.gprs.r[kRdx] & (1u << 9), 0u) << "APIC set while APIC_BASE.EN is set";
  f.vmcb.save.cr4 |= uint64_t{1} << 18;
  f.vmcb.save.rax = 1;
  f.stage(ExitCode::kCpuid, 0, 0, kNext);
  f.run_exit();
  EXPECT_NE(f.vcpu.gprs.r[kRcx] & (1u << 27), 0u) << "OSXSAVE follows CR4.OSXSAVE";
}

TEST(ExitCpuid, TableLimitsAndNoNextRip) {
  ExitFixture f;
  std::vector<KvmCpuidEntry2> many(kKvmMaxCpuidEntries + 1);
  EXPECT_EQ(f.vmctx.cpuid.set(many).error().code, KvmErrno::kE2big);
  const KvmCpuidEntry2 dup[] = {{.function = 1}, {.function = 1}};
  EXPECT_EQ(f.vmctx.cpuid.set(dup).error().code, KvmErrno::kEinval);
  f.stage(ExitCode::kCpuid, 0, 0, 0);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip) << "RIP untouched";
}

TEST(ExitMsr, UnknownMsrInjectsGpWithTheExactEncoding) {
  ExitFixture f;
  f.vcpu.gprs.r[kRcx] = 0xC001'0999;
  f.stage(ExitCode::kMsr, 0, 0, kNext);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kMsrInjectGp);
  EXPECT_EQ(f.vmcb.control.event_inj, kGpEventInj);
  EXPECT_EQ(f.vmcb.control.event_inj_err, 0u);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip) << "a faulting RDMSR does not advance RIP";
  // The next exit starts with event_inj consumed.
  f.stage(ExitCode::kIntr);
  f.run_exit();
  EXPECT_EQ(f.vmcb.control.event_inj, 0u);
}

TEST(ExitMsr, EmulatedMsrsReadAndWrite) {
  ExitFixture f;
  const KvmCpuidEntry2 ext{.function = 0x8000'0001, .edx = (1u << 29) | (1u << 20) | (1u << 27)};
  ASSERT_TRUE(f.vmctx.cpuid.set(std::span(&ext, 1)).has_value());
  // WRMSR PAT with a valid value: g_pat set, NPT clean bit cleared, RIP advanced.
  f.vcpu.gprs.r[kRcx] = 0x277;
  f.vmcb.save.rax = 0x0006'0406;
  f.vcpu.gprs.r[kRdx] = 0x0007'0406;
  f.stage(ExitCode::kMsr, 1, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrWrite);
  EXPECT_EQ(f.vmcb.save.g_pat, 0x0007'0406'0006'0406ull);
  EXPECT_EQ(f.vmcb.control.clean & svm::clean::kNpt, 0u);
  EXPECT_EQ(f.vmcb.save.rip, kNext);
  // An invalid PAT type (2) is #GP.
  f.vmcb.save.rax = 0x02;
  f.stage(ExitCode::kMsr, 1, 0, kNext + 2);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrInjectGp);
  EXPECT_EQ(f.vmcb.control.event_inj, kGpEventInj);
  // RDMSR EFER hides SVME; RAX/RDX take the halves, upper halves cleared.
  f.vcpu.gprs.r[kRcx] = 0xC000'0080;
  f.vmcb.save.rax = ~uint64_t{0};
  f.stage(ExitCode::kMsr, 0, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrRead);
  EXPECT_EQ(f.vmcb.save.rax, (svm::efer::kLme | svm::efer::kLma | svm::efer::kNxe));
  EXPECT_EQ(f.vcpu.gprs.r[kRdx], 0u);
  // WRMSR EFER: setting SVME (no nested SVM) is #GP; turning LME off while paging is #GP;
  // SCE is accepted and SVME stays set in the VMCB.
  f.vmcb.save.rax = svm::efer::kLme | svm::efer::kLma | svm::efer::kSvme;
  f.vcpu.gprs.r[kRdx] = 0;
  f.stage(ExitCode::kMsr, 1, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrInjectGp);
  f.vmcb.save.rax = svm::efer::kNxe;
  f.stage(ExitCode::kMsr, 1, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrInjectGp);
  f.vmcb.save.rax = svm::efer::kLme | svm::efer::kNxe | svm::efer::kSce;
  f.stage(ExitCode::kMsr, 1, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrWrite);
  EXPECT_EQ(f.vmcb.save.efer, svm::efer::kLme | svm::efer::kLma | svm::efer::kNxe |
                                  svm::efer::kSce | svm::efer::kSvme);
  // TSC reads host TSC + offset; a write moves the offset.
  f.vcpu.gprs.r[kRcx] = 0x10;
  f.vmcb.control.tsc_offset = 100;
  f.stage(ExitCode::kMsr, 0, 0, kNext);
  f.run_exit(5000);
  EXPECT_EQ(f.vmcb.save.rax, 5100u);
  f.vmcb.save.rax = 9000;
  f.vcpu.gprs.r[kRdx] = 0;
  f.stage(ExitCode::kMsr, 1, 0, kNext);
  f.run_exit(6000);
  EXPECT_EQ(f.vmcb.control.tsc_offset, 3000u);
  // A non-canonical LSTAR is #GP; garbage exit_info_1 (2) counts as WRMSR, as KVM tests != 0.
  f.vcpu.gprs.r[kRcx] = 0xC000'0082;
  f.vmcb.save.rax = 0;
  f.vcpu.gprs.r[kRdx] = 0x8000'0000;
  f.stage(ExitCode::kMsr, 2, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrInjectGp);
  // SYSENTER_EIP: no #GP on AMD, the value is made canonical.
  f.vcpu.gprs.r[kRcx] = 0x176;
  f.vmcb.save.rax = 0x1234;
  f.vcpu.gprs.r[kRdx] = 0x0000'8000;
  f.stage(ExitCode::kMsr, 1, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrWrite);
  EXPECT_EQ(f.vmcb.save.sysenter_eip, 0xFFFF'8000'0000'1234ull);
  // TSC_AUX: upper 32 bits dropped (RDTSCP advertised above).
  f.vcpu.gprs.r[kRcx] = 0xC000'0103;
  f.vmcb.save.rax = 0x1234;
  f.vcpu.gprs.r[kRdx] = 0x5678;
  f.stage(ExitCode::kMsr, 1, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kMsrWrite);
  EXPECT_EQ(f.vcpu.msr.tsc_aux, 0x1234u);
}

TEST(ExitVmmcall, HypercallAbi) {
  ExitFixture f;
  // Unknown number: RAX = -KVM_ENOSYS, RIP advanced.
  f.vmcb.save.rax = 77;
  f.stage(ExitCode::kVmmcall, 0, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kHypercall);
  EXPECT_EQ(f.vmcb.save.rax, static_cast<uint64_t>(-1000));
  EXPECT_EQ(f.vmcb.save.rip, kNext);
  // MAP_GPA_RANGE without KVM_CAP_EXIT_HYPERCALL: -KVM_ENOSYS too.
  f.vmcb.save.rax = kKvmHcMapGpaRange;
  f.stage(ExitCode::kVmmcall, 0, 0, kNext);
  f.run_exit();
  EXPECT_EQ(f.vmcb.save.rax, static_cast<uint64_t>(-1000));
  // Enabled: bad arguments are -KVM_EINVAL without an exit.
  f.vmctx.options.hypercall_exit_enabled = uint64_t{1} << kKvmHcMapGpaRange;
  f.vmcb.save.rax = kKvmHcMapGpaRange;
  f.vcpu.gprs.r[kRbx] = 0x1001;  // unaligned
  f.vcpu.gprs.r[kRcx] = 1;
  f.stage(ExitCode::kVmmcall, 0, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kHypercall);
  EXPECT_EQ(f.vmcb.save.rax, static_cast<uint64_t>(-22));
  // Good arguments exit as KVM_EXIT_HYPERCALL; completion writes ret into RAX and skips.
  f.vmcb.save.rax = kKvmHcMapGpaRange;
  f.vmcb.save.rip = kGuestRip;
  f.vcpu.gprs.r[kRbx] = 0x20'0000;
  f.vcpu.gprs.r[kRcx] = 4;
  f.vcpu.gprs.r[kRdx] = kKvmMapGpaRangeEncrypted;
  f.stage(ExitCode::kVmmcall, 0, 0, kNext);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kHypercallExit);
  const KvmRun& run = f.vcpu.run;
  EXPECT_EQ(run.exit_reason, KvmExitReason::kHypercall);
  EXPECT_EQ(run.hypercall.nr, kKvmHcMapGpaRange);
  EXPECT_EQ(run.hypercall.args[0], 0x20'0000u);
  EXPECT_EQ(run.hypercall.args[1], 4u);
  EXPECT_EQ(run.hypercall.args[2], kKvmMapGpaRangeEncrypted);
  EXPECT_EQ(run.hypercall.flags, kKvmExitHypercallLongMode);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip) << "RIP moves only on completion";
  f.vcpu.run.hypercall.ret = static_cast<uint64_t>(-22);
  EXPECT_EQ(f.complete().path, ExitPath::kCompletion);
  EXPECT_EQ(f.vmcb.save.rax, static_cast<uint64_t>(-22));
  EXPECT_EQ(f.vmcb.save.rip, kNext);
  // CPL 3: -KVM_EPERM.
  f.vmcb.save.cpl = 3;
  f.vmcb.save.rax = 1;
  f.stage(ExitCode::kVmmcall, 0, 0, kNext);
  f.run_exit();
  EXPECT_EQ(f.vmcb.save.rax, static_cast<uint64_t>(-1));
}

TEST(ExitMisc, HltShutdownAndInterrupts) {
  ExitFixture f;
  f.stage(ExitCode::kHlt, 0, 0, kGuestRip + 1);
  ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kHlt);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip + 1);
  // An interrupt cut short by the exit is re-injected, so HLT resumes at once.
  f.vmcb.save.rip = kGuestRip;
  f.stage(ExitCode::kHlt, 0, 0, kGuestRip + 1);
  f.vmcb.control.exit_int_info = 0x8000'0030;  // valid external interrupt, vector 0x30
  o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.vmcb.control.event_inj, 0x8000'0030u);
  f.vmcb.control.exit_int_info = 0;

  f.stage(ExitCode::kShutdown);
  o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kShutdown);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kShutdown);

  for (ExitCode c : {ExitCode::kIntr, ExitCode::kNmi, ExitCode::kSmi, ExitCode::kInit}) {
    f.stage(c);
    o = f.run_exit();
    EXPECT_EQ(o.action, ExitAction::kResumeGuest) << svm::exit_code_name(svm::to_u64(c));
    EXPECT_EQ(o.path, ExitPath::kInterrupt);
  }
}

TEST(ExitMisc, ReinjectionFollowsExitIntInfo) {
  ExitFixture f;
  // A #PF(0x2) whose delivery hit an NPF: mapped, then the #PF goes back in with its code.
  f.stage(ExitCode::kNpf, 0x2'0000'0006ull, 0x3000);
  f.vmcb.control.exit_int_info = 0x8000'0B0E;
  f.vmcb.control.exit_int_info_err = 2;
  EXPECT_EQ(f.run_exit().path, ExitPath::kNpfMap);
  EXPECT_EQ(f.vmcb.control.event_inj, 0x8000'0B0Eu);
  EXPECT_EQ(f.vmcb.control.event_inj_err, 2u);
  // INT3 (#BP, a software exception) and INTn are re-executed, not re-injected.
  for (uint32_t info : {0x8000'0303u, 0x8000'0480u}) {
    f.stage(ExitCode::kIntr);
    f.vmcb.control.exit_int_info = info;
    f.run_exit();
    EXPECT_EQ(f.vmcb.control.event_inj, 0u) << std::hex << info;
  }
  // A handler that wants to inject while an event is re-queued: a clear internal error.
  f.stage(ExitCode::kRdpmc, 0, 0, kNext);
  f.vmcb.control.exit_int_info = 0x8000'0030;
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(f.vcpu.run.internal.suberror, kKvmInternalErrorSimulEx);
}

TEST(ExitMisc, SvmInstructionsAndNops) {
  ExitFixture f;
  for (ExitCode c :
       {ExitCode::kVmrun, ExitCode::kVmload, ExitCode::kVmsave, ExitCode::kStgi, ExitCode::kClgi,
        ExitCode::kSkinit, ExitCode::kInvlpga, ExitCode::kRdpru, ExitCode::kRsm}) {
    f.stage(c, 0, 0, kNext);
    const ExitOutcome o = f.run_exit();
    EXPECT_EQ(o.path, ExitPath::kInjectUd) << svm::exit_code_name(svm::to_u64(c));
    EXPECT_EQ(f.vmcb.control.event_inj, kUdEventInj);
    EXPECT_EQ(f.vmcb.save.rip, kGuestRip);
  }
  f.stage(ExitCode::kRdpmc, 0, 0, kNext);
  EXPECT_EQ(f.run_exit().path, ExitPath::kInjectGp);
  EXPECT_EQ(f.vmcb.control.event_inj, kGpEventInj);
  for (ExitCode c : {ExitCode::kWbinvd, ExitCode::kInvd, ExitCode::kMonitor, ExitCode::kMwait}) {
    f.vmcb.save.rip = kGuestRip;
    f.stage(c, 0, 0, kNext);
    EXPECT_EQ(f.run_exit().path, ExitPath::kNopSkip);
    EXPECT_EQ(f.vmcb.save.rip, kNext);
  }
}

TEST(ExitTable, IncompleteVmContextIsAnErrorNotACrash) {
  ExitFixture f;
  f.vmctx.npt = nullptr;
  f.stage(ExitCode::kNpf, 0x1'0000'0004ull, 0x1000);
  EXPECT_EQ(f.run_exit().path, ExitPath::kInternalError);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
}

TEST(ExitTable, VmexitInvalidIsFailEntry) {
  ExitFixture f;
  f.stage(ExitCode::kInvalid);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kFailEntry);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kFailEntry);
  EXPECT_EQ(f.vcpu.run.fail_entry.hardware_entry_failure_reason, ~uint64_t{0});
}

TEST(ExitTable, UnknownExitCodesAreInternalErrorsNeverCrashes) {
  ExitFixture f;
  const uint64_t codes[] = {0x000 /* CR0 read: not handled */,
                            0x07D,
                            0x0FF,
                            0x401,
                            0x403,
                            0x404,
                            0x1234'5678,
                            0xFFFF'FFFF'FFFF'FFFEull,
                            0x8000'0000'0000'0000ull};
  for (uint64_t code : codes) {
    f.vmcb.control.exit_code = code;
    const ExitOutcome o = f.run_exit();
    EXPECT_EQ(o.action, ExitAction::kExitToVmm) << std::hex << code;
    EXPECT_EQ(o.path, ExitPath::kUnexpected) << std::hex << code;
    EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
    EXPECT_EQ(f.vcpu.run.internal.suberror, kKvmInternalErrorUnexpectedExitReason);
    EXPECT_EQ(f.vcpu.run.internal.ndata, 2u);
    EXPECT_EQ(f.vcpu.run.internal.data[0], code);
    // VMGEXIT (0x403) has a handler (SEV-ES guests); from a plain guest it is still unexpected.
    EXPECT_EQ(has_exit_handler(code), code == svm::to_u64(ExitCode::kVmgexit)) << std::hex << code;
  }
  EXPECT_TRUE(has_exit_handler(svm::to_u64(ExitCode::kCpuid)));
  EXPECT_TRUE(has_exit_handler(svm::to_u64(ExitCode::kInvalid)));
  for (int p = 0; p < static_cast<int>(ExitPath::kCount); ++p) {
    EXPECT_STRNE(exit_path_name(static_cast<ExitPath>(p)), "?") << p;
  }
}

}  // namespace
}  // namespace snpemu::hv::test
