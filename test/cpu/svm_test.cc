// SVM world switch on the core: VMRUN through the host-instruction path and as an instruction,
// #VMEXIT exit information, intercepts (instructions, MSRPM, IOPM, exceptions, INTR, shutdown),
// event injection and EXITINTINFO, nested paging and NPF, VMLOAD/VMSAVE, GIF, SEV-ES (VMSA,
// #VC, VMGEXIT, GHCB MSR, host registers restored). Each expectation names its APM rule.
#include "test/cpu/svm_fixture.h"

namespace snpemu::cpu {
namespace {

using namespace testing;  // NOLINT: the fixture's constants

// ---- host-instruction path checks (APM vol 3, VMRUN "Exceptions") ----

TEST_F(SvmTest, VmrunWithoutSvmeIsUd) {
  core_.state().efer &= ~ctl::kEferSvme;
  write_vmcb();
  auto r = core_.vmrun(kVmcb);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().vector, Vector::kUd);
}

TEST_F(SvmTest, VmrunWithUnalignedVmcbIsGp) {
  auto r = core_.vmrun(kVmcb + 8);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), gp(0));
}

TEST_F(SvmTest, ConsistencyCheckFailureIsVmexitInvalid) {
  // APM vol 2 15.5.1: ASID 0 is illegal for a guest.
  vmcb_.control.asid = 0;
  write_vmcb();
  auto r = core_.vmrun(kVmcb);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r) << "must not enter the guest";
  EXPECT_FALSE(core_.in_guest());
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kInvalid));
  EXPECT_EQ(core_.last_vmrun_check(), svm::VmrunCheck::kAsidZero);
  EXPECT_EQ(core_.state().rip, kHostCode);
  EXPECT_FALSE(core_.state().gif) << "#VMEXIT clears GIF (APM 15.17)";
}

TEST_F(SvmTest, MissingVmrunInterceptIsVmexitInvalid) {
  svm::set_intercept(vmcb_.control, Intercept::kVmrun, false);
  write_vmcb();
  ASSERT_TRUE(core_.vmrun(kVmcb).has_value());
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kInvalid));
  EXPECT_EQ(core_.last_vmrun_check(), svm::VmrunCheck::kVmrunInterceptClear);
}

// ---- instruction intercepts and #VMEXIT state ----

TEST_F(SvmTest, CpuidInterceptExitsBeforeExecutingAndRestoresHost) {
  code({0x0F, 0xA2, 0xF4}, kGuestCode);  // cpuid; hlt
  intercept(Intercept::kCpuid);
  vmcb_.save.rax = 0x8000001F;
  const uint64_t host_rsp = core_.state().gpr[kRsp];
  const uint64_t before = core_.cycles();
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kCpuid));
  EXPECT_EQ(v.save.rip, kGuestCode) << "the intercepted CPUID did not execute";
  EXPECT_EQ(v.control.next_rip, kGuestCode + 2) << "NRIPS: next_rip after CPUID (APM 15.7.1)";
  EXPECT_EQ(v.save.rax, 0x8000001Fu) << "guest RAX saved unchanged";
  EXPECT_FALSE(core_.in_guest());
  EXPECT_EQ(core_.state().rip, kHostCode);
  EXPECT_EQ(core_.state().gpr[kRsp], host_rsp);
  EXPECT_EQ(core_.state().cpl, 0);
  EXPECT_FALSE(core_.state().gif);
  // Cycles: VMRUN + #VMEXIT from the table, nothing else (no guest instruction retired).
  const TimingTable& t = zen4_timing();
  EXPECT_EQ(core_.cycles() - before, t[size_t(Cost::kVmrun)].cycles + t[size_t(Cost::kVmexit)].cycles);
}

TEST_F(SvmTest, HypervisorAdvancesRipAndResumes) {
  code({0x0F, 0xA2, 0xF4}, kGuestCode);  // cpuid; hlt
  intercept(Intercept::kCpuid);
  intercept(Intercept::kHlt);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  vmcb_ = read_vmcb();
  vmcb_.save.rip = vmcb_.control.next_rip;  // what KVM's skip_emulated_instruction does
  vmcb_.save.rax = 0x1234;                  // emulated CPUID result
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kHlt));
  EXPECT_EQ(v.save.rip, kGuestCode + 2);
  EXPECT_EQ(v.save.rax, 0x1234u);
}

TEST_F(SvmTest, UninterceptedInstructionsRunInTheGuest) {
  // mov ebx, 7; add ebx, ebx; vmmcall  (VMMCALL intercepted)
  code({0xBB, 7, 0, 0, 0, 0x01, 0xDB, 0x0F, 0x01, 0xD9}, kGuestCode);
  intercept(Intercept::kVmmcall);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmmcall));
  // Plain SVM leaves the other GPRs in the registers (the hypervisor saves them).
  EXPECT_EQ(core_.state().gpr[kRbx], 14u);
}

TEST_F(SvmTest, VmmcallWithoutInterceptIsUdInTheGuest) {
  code({0x0F, 0x01, 0xD9}, kGuestCode);
  intercept(Intercept(svm::exception_intercept(6)));
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(svm::exit_exception(6)));
}

TEST_F(SvmTest, IoioInterceptThroughIopm) {
  // out 0xE9, al; out 0x80, al; hlt -- only 0xE9 is set in the IOPM.
  code({0xE6, 0xE9, 0xE6, 0x80, 0xF4}, kGuestCode);
  intercept(Intercept::kIoioProt);
  intercept(Intercept::kHlt);
  bus_.poke<uint8_t>(kIopm + 0xE9 / 8, uint8_t(1u << (0xE9 % 8)));
  vmcb_.save.rax = 0x41;
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  svm::Vmcb v = read_vmcb();
  ASSERT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kIoio));
  auto info = svm::decode_ioio(v.control.exit_info_1);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->port, 0xE9);
  EXPECT_EQ(info->type, svm::IoType::kOut);
  EXPECT_EQ(info->operand_size, 1);
  EXPECT_EQ(v.control.exit_info_2, kGuestCode + 2) << "exit_info_2 = next RIP (APM 15.10.2)";
  EXPECT_TRUE(bus_.outs.empty());
  vmcb_ = v;
  vmcb_.save.rip = v.control.exit_info_2;
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kHlt));
  ASSERT_EQ(bus_.outs.size(), 1u) << "port 0x80 is not in the IOPM: the access went to the bus";
  EXPECT_EQ(bus_.outs[0].port, 0x80);
}

// APM vol 2, 15.10.1: the I/O permission check (with CPL > IOPL, the TSS I/O bitmap, APM
// 13.2.2) comes before the IOIO intercept. The guest drops to CPL 3 with SYSRET (VMRUN here
// does not load CPL from the VMCB) and runs `out port, al` with IOPL 0; the IOPM intercepts
// the port; TR (not VMRUN state: it stays the host's, APM 15.5.1) names a TSS whose bitmap
// allows or denies it.
class SvmUserIoTest : public SvmTest {
 protected:
  static constexpr uint64_t kTss = 0x104000;
  static constexpr uint16_t kMapBase = 0x68;
  svm::Vmcb run_user_out(uint8_t port, bool tss_denies) {
    core_.state().msr.star = (uint64_t{0x10} << 48) | (uint64_t{0x08} << 32);
    core_.state().gpr[kRcx] = kGuestCode + 3;  // SYSRET target
    core_.state().gpr[kR11] = 2;               // RFLAGS: IOPL 0
    core_.state().tr = Segment{0x28, 0x89, kMapBase + 0x2000u, kTss};
    code({0x48, 0x0F, 0x07, 0xE6, port}, kGuestCode);  // sysretq; out port, al
    intercept(Intercept::kIoioProt);
    intercept(Intercept(svm::exception_intercept(13)));
    bus_.poke<uint8_t>(kIopm + port / 8, uint8_t(1u << (port % 8)));
    bus_.poke<uint16_t>(kTss + 0x66, kMapBase);
    if (tss_denies) bus_.poke<uint8_t>(kTss + kMapBase + port / 8, uint8_t(1u << (port % 8)));
    EXPECT_EQ(enter_and_run(), StopReason::kVmexit);
    return read_vmcb();
  }
};

TEST_F(SvmUserIoTest, TssBitmapAllowsSoTheIoioInterceptApplies) {
  const svm::Vmcb v = run_user_out(0xE9, false);
  ASSERT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kIoio));
  EXPECT_EQ(v.save.cpl, 3) << "the OUT ran at CPL 3";
  auto info = svm::decode_ioio(v.control.exit_info_1);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->port, 0xE9);
  EXPECT_TRUE(bus_.outs.empty());
}

TEST_F(SvmUserIoTest, TssBitmapDeniesSoGpComesBeforeTheIoioIntercept) {
  const svm::Vmcb v = run_user_out(0x80, true);
  EXPECT_EQ(v.control.exit_code, svm::to_u64(svm::exit_exception(13)))
      << "expected #GP (exception 13 exit), got exit code " << v.control.exit_code;
  EXPECT_EQ(v.control.exit_info_1, 0u) << "#GP error code";
  EXPECT_EQ(v.save.rip, kGuestCode + 3) << "faulting OUT";
  EXPECT_TRUE(bus_.outs.empty());
}

TEST_F(SvmTest, MsrInterceptThroughMsrpm) {
  // rdmsr (ECX = EFER: passed through); mov ecx, STAR; rdmsr (intercepted)
  code({0x0F, 0x32, 0xB9, 0x81, 0, 0, 0xC0, 0x0F, 0x32}, kGuestCode);
  intercept(Intercept::kMsrProt);
  auto slot = svm::msrpm_slot(0xC0000081, svm::MsrAccess::kRead);
  ASSERT_TRUE(slot.has_value());
  bus_.poke<uint8_t>(kMsrpm + slot->byte_offset, uint8_t(1u << slot->bit));
  core_.state().gpr[kRcx] = 0xC0000080;
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kMsr));
  EXPECT_EQ(v.control.exit_info_1, 0u) << "RDMSR";
  EXPECT_EQ(v.save.rip, kGuestCode + 7);
  EXPECT_EQ(v.save.rax, vmcb_.save.efer & 0xFFFFFFFF)
      << "the unintercepted RDMSR read the guest's EFER into the guest's RAX";
  EXPECT_EQ(core_.state().gpr[kRax], kVmcb) << "the host's RAX (the VMCB address) is back (APM 15.6)";
}

TEST_F(SvmTest, CrWriteInterceptWithDecodeAssist) {
  code({0x0F, 0x22, 0xDA}, kGuestCode);  // mov cr3, rdx
  intercept(Intercept::kCr3Write);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kWriteCr3));
  EXPECT_EQ(v.control.exit_info_1, (uint64_t{1} << 63) | kRdx) << "APM 15.33: MOV bit + GPR";
}

// ---- exceptions, event injection, EXITINTINFO ----

TEST_F(SvmTest, InjectedInterruptArrivesInGuestIdt) {
  // Handler: mov eax, 0x99; hlt. The guest itself would execute "hlt" at kGuestCode.
  code({0xF4}, kGuestCode);
  code({0xB8, 0x99, 0, 0, 0, 0xF4}, kGuestHandler);
  gate(kGuestIdt, 0x30, kGuestHandler);
  intercept(Intercept::kHlt);
  const svm::Event ev = svm::make_event(svm::EventType::kIntr, 0x30);
  vmcb_.control.event_inj = svm::encode_event_word(ev);
  vmcb_.save.rflags = 2 | flag::kIf;
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kHlt));
  EXPECT_EQ(v.save.rip, kGuestHandler + 5) << "the handler ran up to its HLT";
  EXPECT_EQ(v.save.rax & 0xFFFFFFFF, 0x99u);
  EXPECT_EQ(bus_.peek<uint64_t>(kGuestStack - 40), kGuestCode) << "return RIP in the frame";
  EXPECT_EQ(v.control.exit_int_info, 0u);
}

TEST_F(SvmTest, FaultDuringInjectionExitsWithExitIntInfo) {
  // The IDT gate for 0x30 is not present: #NP during delivery, intercepted -> EXITINTINFO
  // holds the injected event. APM vol 2 15.7.2.
  code({0xF4}, kGuestCode);
  intercept(Intercept(svm::exception_intercept(11)));
  vmcb_.control.event_inj = svm::encode_event_word(svm::make_event(svm::EventType::kIntr, 0x30));
  bus_.poke<uint64_t>(kGuestIdt + 0x30 * 16, 0x00000E0000080000ull);  // type E, P = 0
  write_vmcb();
  auto r = core_.vmrun(kVmcb);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r) << "exited while injecting";
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(svm::exit_exception(11)));
  const svm::Event got = svm::decode_event(v.control.exit_int_info, v.control.exit_int_info_err);
  EXPECT_TRUE(got.valid);
  EXPECT_EQ(got.vector, 0x30);
  EXPECT_EQ(got.type, uint8_t(svm::EventType::kIntr));
}

TEST_F(SvmTest, TripleFaultIsShutdownExit) {
  code({0x0F, 0x0B}, kGuestCode);  // ud2 with an IDT limit of 0: #UD -> #GP -> #DF -> shutdown
  vmcb_.save.idtr = {0, 0, 0, kGuestIdt};
  intercept(Intercept::kShutdown);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kShutdown));
  EXPECT_FALSE(core_.in_guest());
}

TEST_F(SvmTest, PhysicalInterruptWithIntrInterceptExits) {
  code({0xEB, 0xFE}, kGuestCode);  // jmp $
  intercept(Intercept::kIntr);
  vmcb_.control.int_ctl = svm::int_ctl::kVIntrMasking;
  write_vmcb();
  ASSERT_TRUE(*core_.vmrun(kVmcb));
  ASSERT_EQ(core_.run(500), StopReason::kBudget);
  EXPECT_TRUE(core_.in_guest());
  core_.request_interrupt(0x40);
  ASSERT_EQ(core_.run(500), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kIntr));
  EXPECT_TRUE(core_.interrupt_pending()) << "the interrupt stays pending for the host";
}

// ---- nested paging ----

TEST_F(SvmTest, NestedPagingTranslatesEveryGuestAccess) {
  build_npt();
  // mov qword [0x5000], 0x77; hlt -- guest paging off: GPA = linear.
  code({0x48, 0xC7, 0x04, 0x25, 0x00, 0x50, 0, 0, 0x77, 0, 0, 0, 0xF4}, kGuestBase + 0x1000);
  vmcb_.save.rip = 0x1000;
  intercept(Intercept::kHlt);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kHlt));
  EXPECT_EQ(bus_.peek<uint64_t>(kGuestBase + 0x5000), 0x77u) << "the store reached GPA 0x5000's host page";
  EXPECT_EQ(bus_.peek<uint64_t>(0x5000), 0u) << "and not host-physical 0x5000";
}

TEST_F(SvmTest, NestedPageFaultExitInfo) {
  build_npt(/*unmapped_gpa=*/0x6000);
  code({0x48, 0x89, 0x04, 0x25, 0x00, 0x60, 0, 0}, kGuestBase + 0x1000);  // mov [0x6000], rax
  vmcb_.save.rip = 0x1000;
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kNpf));
  EXPECT_EQ(v.control.exit_info_2, 0x6000u);
  // Not present (P = 0), write, user (NPT accesses are user), final translation (bit 32).
  EXPECT_EQ(v.control.exit_info_1, mmu::kNpfWrite | mmu::kNpfUser | mmu::kNpfGuestFinal);
  EXPECT_EQ(v.save.rip, 0x1000u) << "the faulting store did not retire";
}

TEST_F(SvmTest, NestedPageFaultOnGuestPageTableHasGuestPageBit) {
  build_npt(/*unmapped_gpa=*/0x30000);
  // Guest 4-level tables at GPA 0x30000 (unmapped in the NPT): the first table read faults.
  code({0x48, 0x8B, 0x04, 0x25, 0x00, 0x50, 0, 0}, kGuestBase + 0x1000);  // mov rax, [0x5000]
  vmcb_.save.rip = 0x1000;
  vmcb_.save.cr0 |= ctl::kCr0Pg;
  vmcb_.save.cr3 = 0x30000;
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  EXPECT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kNpf));
  EXPECT_EQ(v.control.exit_info_2, 0x30000u) << "the GPA of the guest PML4";
  EXPECT_TRUE(v.control.exit_info_1 & mmu::kNpfGuestPage);
  EXPECT_FALSE(v.control.exit_info_1 & mmu::kNpfGuestFinal);
}

// ---- VMLOAD / VMSAVE / GIF ----

TEST_F(SvmTest, VmsaveThenVmloadRoundTrip) {
  core_.state().msr.star = 0x0023001000000000;
  core_.state().seg[kFs].base = 0xFFFF800000001000;
  ASSERT_TRUE(core_.vmsave(kVmcb).has_value());
  EXPECT_EQ(bus_.peek<uint64_t>(SNPEMU_VMCB_SAVE(star)), 0x0023001000000000u);
  core_.state().msr.star = 0;
  core_.state().seg[kFs].base = 0;
  ASSERT_TRUE(core_.vmload(kVmcb).has_value());
  EXPECT_EQ(core_.state().msr.star, 0x0023001000000000u);
  EXPECT_EQ(core_.state().seg[kFs].base, 0xFFFF800000001000u);
}

TEST_F(SvmTest, ClgiHoldsInterruptsStgiReleasesThem) {
  code({0x90, 0x90, 0x90, 0xF4}, kHostCode);
  gate(kGuestIdt, 0x40, kHostCode + 3);
  core_.state().idtr = {kGuestIdt, 0xFFF};
  core_.state().gdtr = {kGuestGdt, 0x17};
  ASSERT_TRUE(core_.clgi().has_value());
  core_.request_interrupt(0x40);
  ASSERT_EQ(core_.step(), StopReason::kBudget);
  EXPECT_EQ(core_.state().rip, kHostCode + 1) << "GIF = 0 holds the interrupt (APM 15.17)";
  ASSERT_TRUE(core_.stgi().has_value());
  ASSERT_EQ(core_.step(), StopReason::kBudget);
  EXPECT_EQ(core_.state().rip, kHostCode + 3) << "delivered once GIF = 1";
}

// ---- VMRUN executed as an instruction ----

TEST_F(SvmTest, HostCodeVmrunContinuesAfterExit) {
  // Host: mov rax, kVmcb; vmrun; hlt.   Guest: cpuid (intercepted).
  code({0x48, 0xC7, 0xC0, 0x00, 0x10, 0x01, 0x00, 0x0F, 0x01, 0xD8, 0xF4}, kHostCode);
  code({0x0F, 0xA2}, kGuestCode);
  intercept(Intercept::kCpuid);
  write_vmcb();
  ASSERT_EQ(core_.run(100000), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kCpuid));
  EXPECT_EQ(core_.state().rip, kHostCode + 10) << "host resumes after VMRUN";
  ASSERT_EQ(core_.run(100000), StopReason::kHalt);
}

// ---- SEV-ES ----

class SevEsTest : public SvmTest {
 protected:
  SevEsTest() {
    vmcb_.control.nested_ctl = svm::nested_ctl::kNpEnable | svm::nested_ctl::kSevEnable |
                               svm::nested_ctl::kSevEsEnable;
    vmcb_.control.asid = 1;  // below min_sev_asid: an SEV-ES ASID
    vmcb_.control.vmsa_pa = kVmsa;
    build_npt();
    svm::SevEsSaveArea a{};
    a.cs = vmcb_.save.cs;
    a.ds = a.es = a.ss = vmcb_.save.ds;
    a.gdtr = {0, 0, 0x17, kGuestGdt};
    a.idtr = {0, 0, 0xFFF, kGuestIdt};
    a.efer = vmcb_.save.efer;
    a.cr0 = vmcb_.save.cr0;
    a.cr4 = vmcb_.save.cr4;
    a.rflags = 2;
    a.rip = 0x1000;
    a.rsp = 0x8000;
    a.rbx = 0x5EC2E7;
    a.sev_features = 0;
    a.g_pat = 0x0007040600070406;
    vmsa_ = a;
    // Guest memory is GPA-based through the NPT: GDT and IDT at their GPAs inside the guest.
    bus_.poke<uint64_t>(kGuestBase + 0x2008, 0x00AF9A000000FFFF);
    bus_.poke<uint64_t>(kGuestBase + 0x2010, 0x00CF92000000FFFF);
    vmsa_.gdtr = {0, 0, 0x17, 0x2000};
    vmsa_.idtr = {0, 0, 0xFFF, 0x3000};
  }
  StopReason enter_es() {
    bus_.poke(kVmsa, vmsa_);
    return enter_and_run();
  }
  svm::SevEsSaveArea vmsa_{};
};

TEST_F(SevEsTest, VmgexitExitsAndHostNeverSeesGuestRegisters) {
  code({0xF3, 0x0F, 0x01, 0xD9}, kGuestBase + 0x1000);  // vmgexit
  core_.state().gpr[kRbx] = 0x4057;
  ASSERT_EQ(enter_es(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit));
  EXPECT_EQ(core_.state().gpr[kRbx], 0x4057u) << "host RBX restored, guest's 0x5EC2E7 hidden";
  const auto saved = bus_.peek<svm::SevEsSaveArea>(kVmsa);
  EXPECT_EQ(saved.rbx, 0x5EC2E7u) << "guest state went to the VMSA";
  EXPECT_EQ(saved.rip, 0x1000u + 4) << "UNCONFIRMED: VMGEXIT retires (RIP past it)";
}

TEST_F(SevEsTest, NonAutomaticExitRaisesVcInGuest) {
  // cpuid is intercepted: in an SEV-ES guest that is #VC (vector 29) with error code 0x72.
  // The #VC handler executes vmgexit, so the test sees where the guest got to.
  code({0x0F, 0xA2}, kGuestBase + 0x1000);
  code({0xF3, 0x0F, 0x01, 0xD9}, kGuestBase + 0x4000);
  gate(kGuestBase + 0x3000, 29, 0x4000);
  intercept(Intercept::kCpuid);
  ASSERT_EQ(enter_es(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit));
  const auto saved = bus_.peek<svm::SevEsSaveArea>(kVmsa);
  EXPECT_EQ(saved.rip, 0x4004u);
  // #VC frame: error code (the exit code), then the RIP of the CPUID.
  EXPECT_EQ(bus_.peek<uint64_t>(kGuestBase + 0x8000 - 48), 0x72u);
  EXPECT_EQ(bus_.peek<uint64_t>(kGuestBase + 0x8000 - 40), 0x1000u);
}

TEST_F(SevEsTest, GhcbMsrTravelsThroughVmcb) {
  // mov ecx, 0xC0010130; mov eax, 0x1004 (GHCB MSR protocol: CPUID request); xor edx, edx;
  // wrmsr; vmgexit
  code({0xB9, 0x30, 0x01, 0x01, 0xC0, 0xB8, 0x04, 0x10, 0, 0, 0x31, 0xD2, 0x0F, 0x30, 0xF3, 0x0F,
        0x01, 0xD9},
       kGuestBase + 0x1000);
  ASSERT_EQ(enter_es(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.ghcb_gpa, 0x1004u);
}

TEST_F(SevEsTest, SevStatusReportsActiveFeatures) {
  // mov ecx, SEV_STATUS; rdmsr; vmgexit
  code({0xB9, 0x31, 0x01, 0x01, 0xC0, 0x0F, 0x32, 0xF3, 0x0F, 0x01, 0xD9}, kGuestBase + 0x1000);
  vmsa_.sev_features = svm::sev_features::kSnpActive;
  // Every MSR intercepted (KVM's MSRPM starts all ones): SEV_STATUS is read anyway.
  intercept(Intercept::kMsrProt);
  for (uint64_t i = 0; i < svm::kMsrpmSize; i += 8) bus_.poke<uint64_t>(kMsrpm + i, ~uint64_t{0});
  ASSERT_EQ(enter_es(), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit)) << "no #VC, no MSR exit";
  const auto saved = bus_.peek<svm::SevEsSaveArea>(kVmsa);
  EXPECT_EQ(saved.rax, svm::sev_status_from_features(svm::sev_features::kSnpActive))
      << "SEV (bit 0) + SEV-ES (bit 1) + SNP (bit 2)";
}

}  // namespace
}  // namespace snpemu::cpu
