// Core state vectors over flat test memory: programs, stop reasons, system instructions,
// exception delivery through the IDT (IST, #DF, triple fault), interrupts and the STI shadow.
#include <gtest/gtest.h>

#include <vector>

#include "cpu/cpu.h"
#include "test/cpu/flat_bus.h"

namespace snpemu::cpu {
namespace {

using testing::FlatBus;

constexpr uint64_t kCode = 0x1000;
constexpr uint64_t kHandler = 0x2000;
constexpr uint64_t kIdt = 0x3000;
constexpr uint64_t kGdt = 0x4000;
constexpr uint64_t kTss = 0x5000;
constexpr uint64_t kStack = 0x8000;
constexpr uint64_t kIstStack = 0x9800;

class CoreTest : public ::testing::Test {
 protected:
  explicit CoreTest(bool stop_on_fault = false)
      : core_(bus_, CoreConfig{.stop_on_fault = stop_on_fault}) {
    core_.state() = long_mode_state(kCode, kStack);
    // GDT: null, 0x08 64-bit code, 0x10 data, 0x28 64-bit TSS (16 bytes).
    bus_.poke<uint64_t>(kGdt + 0x08, 0x00AF9A000000FFFF);
    bus_.poke<uint64_t>(kGdt + 0x10, 0x00CF92000000FFFF);
    bus_.poke<uint64_t>(kGdt + 0x28, 0x0000890000000067 | ((kTss & 0xFFFFFF) << 16));
    core_.state().gdtr = {kGdt, 0x37};
    core_.state().idtr = {kIdt, 0xFFF};
    bus_.poke<uint64_t>(kTss + 0x24, kIstStack);  // IST1
  }
  void code(std::vector<uint8_t> bytes, uint64_t at = kCode) { bus_.load(at, bytes); }
  void gate(unsigned vector, uint64_t target, unsigned ist = 0, bool present = true) {
    const uint64_t lo = (target & 0xFFFF) | (uint64_t{0x08} << 16) | (uint64_t{ist} << 32) |
                        (uint64_t{present ? 0x8Eu : 0x0Eu} << 40) | (((target >> 16) & 0xFFFF) << 48);
    bus_.poke<uint64_t>(kIdt + vector * 16, lo);
    bus_.poke<uint64_t>(kIdt + vector * 16 + 8, target >> 32);
  }
  StopReason run() { return core_.run(100000); }
  uint64_t& reg(Gpr r) { return core_.state().gpr[r]; }

  FlatBus bus_{1 << 20};
  Core core_;
};

class CoreFaultStopTest : public CoreTest {
 protected:
  CoreFaultStopTest() : CoreTest(true) {}
};

TEST_F(CoreTest, ArithmeticProgramHalts) {
  // mov eax, 5; add eax, 7; imul eax, eax, 3; hlt
  code({0xB8, 5, 0, 0, 0, 0x83, 0xC0, 7, 0x6B, 0xC0, 3, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(reg(kRax), 36u);
  EXPECT_EQ(core_.state().rip, kCode + 12);
  EXPECT_EQ(core_.instructions(), 4u);
  EXPECT_GT(core_.cycles(), 0u);
}

TEST_F(CoreTest, LoopCallRetPushPop) {
  // mov ecx, 10; xor eax, eax; L: add eax, ecx; loop L; call F; hlt; F: push rax; pop rbx; ret
  code({0xB9, 10, 0, 0, 0, 0x31, 0xC0, 0x01, 0xC8, 0xE2, 0xFC, 0xE8, 0x01, 0, 0, 0, 0xF4,
        0x50, 0x5B, 0xC3});
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(reg(kRax), 55u);
  EXPECT_EQ(reg(kRbx), 55u);
  EXPECT_EQ(reg(kRsp), kStack);
  EXPECT_EQ(core_.state().rip, kCode + 17);
}

TEST_F(CoreTest, RepMovsAndStos) {
  for (int i = 0; i < 64; ++i) bus_.poke<uint8_t>(0x6000 + i, static_cast<uint8_t>(i * 3));
  // mov esi, 0x6000; mov edi, 0x7000; mov ecx, 64; rep movsb; mov al, 0xAA; mov ecx, 8; rep stosb; hlt
  code({0xBE, 0, 0x60, 0, 0, 0xBF, 0, 0x70, 0, 0, 0xB9, 64, 0, 0, 0, 0xF3, 0xA4, 0xB0, 0xAA,
        0xB9, 8, 0, 0, 0, 0xF3, 0xAA, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(bus_.peek<uint8_t>(0x7000 + i), static_cast<uint8_t>(i * 3)) << "at 0x" << std::hex << 0x7000 + i;
  }
  for (int i = 0; i < 8; ++i) EXPECT_EQ(bus_.peek<uint8_t>(0x7040 + i), 0xAA);
  EXPECT_EQ(reg(kRcx), 0u);
  EXPECT_EQ(reg(kRdi), 0x7048u);
}

TEST_F(CoreFaultStopTest, DivideByZeroRaisesDe) {
  code({0x31, 0xC9, 0xF7, 0xF1});  // xor ecx, ecx; div ecx
  ASSERT_EQ(run(), StopReason::kFault);
  EXPECT_EQ(core_.stop_info().fault.vector, Vector::kDe);
  EXPECT_EQ(core_.state().rip, kCode + 2) << "a fault leaves RIP at the faulting instruction";
}

TEST_F(CoreFaultStopTest, UnknownMsrRaisesGp) {
  code({0xB9, 0x78, 0x56, 0x34, 0x12, 0x0F, 0x32});  // mov ecx, 0x12345678; rdmsr
  ASSERT_EQ(run(), StopReason::kFault);
  EXPECT_EQ(core_.stop_info().fault, gp(0));
}

TEST_F(CoreTest, MsrRoundTripAndTsc) {
  // mov ecx, 0xC0000082 (LSTAR); mov eax, 0x1000; mov edx, 0xFFFF8000; wrmsr; xor eax,eax; xor edx,edx;
  // rdmsr; mov r8, rax; mov r9, rdx; rdtsc; hlt
  code({0xB9, 0x82, 0, 0, 0xC0, 0xB8, 0, 0x10, 0, 0, 0xBA, 0, 0x80, 0xFF, 0xFF, 0x0F, 0x30,
        0x31, 0xC0, 0x31, 0xD2, 0x0F, 0x32, 0x49, 0x89, 0xC0, 0x49, 0x89, 0xD1, 0x0F, 0x31, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().msr.lstar, 0xFFFF800000001000u);
  EXPECT_EQ(reg(kR8), 0x1000u);
  EXPECT_EQ(reg(kR9), 0xFFFF8000u);
  const uint64_t tsc = (reg(kRdx) << 32) | reg(kRax);
  EXPECT_GT(tsc, 0u);
  EXPECT_LE(tsc, core_.cycles()) << "TSC is the cycle clock at the RDTSC";
}

TEST_F(CoreTest, CpuidReturnsConfiguredSevLeaf) {
  code({0xB8, 0x1F, 0, 0, 0x80, 0x0F, 0xA2, 0xF4});  // mov eax, 0x8000001F; cpuid; hlt
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(reg(kRax) & 0x10, 0x10u) << "SEV-SNP bit 4";
  EXPECT_EQ(reg(kRbx) & 0x3F, 51u) << "C-bit position";
}

TEST_F(CoreTest, PortIoAndExitPort) {
  bus_.in_value = 0x5A;
  // mov al, 'A'; out 0xE9, al; mov dx, 0x3F8; in al, dx; mov al, 3; out 0xF4, al; hlt
  code({0xB0, 'A', 0xE6, 0xE9, 0x66, 0xBA, 0xF8, 0x03, 0xEC, 0xB0, 3, 0xE6, 0xF4, 0xF4});
  ASSERT_EQ(run(), StopReason::kIoExit);
  ASSERT_EQ(bus_.outs.size(), 2u);
  EXPECT_EQ(bus_.outs[0].port, 0xE9);
  EXPECT_EQ(bus_.outs[0].value, uint32_t{'A'});
  EXPECT_EQ(bus_.outs[1].port, 0xF4);
  ASSERT_EQ(bus_.ins.size(), 1u);
  EXPECT_EQ(bus_.ins[0].first, 0x3F8);
  EXPECT_EQ(core_.state().rip, kCode + 13);
}

TEST_F(CoreTest, BudgetStopsAnInfiniteLoop) {
  code({0xEB, 0xFE});  // jmp $
  EXPECT_EQ(core_.run(1000), StopReason::kBudget);
  EXPECT_GE(core_.cycles(), 1000u);
  EXPECT_EQ(core_.state().rip, kCode);
}

TEST_F(CoreTest, UdDeliveredThroughIdt) {
  gate(6, kHandler);
  code({0x0F, 0x0B});  // ud2
  code({0xF4}, kHandler);
  core_.state().rflags |= flag::kIf;
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().rip, kHandler + 1);
  const uint64_t rsp = reg(kRsp);
  EXPECT_EQ(rsp, kStack - 40) << "five-word frame, no error code";
  EXPECT_EQ(bus_.peek<uint64_t>(rsp), kCode) << "return RIP is the faulting instruction";
  EXPECT_EQ(bus_.peek<uint64_t>(rsp + 8), 0x08u);
  EXPECT_TRUE(bus_.peek<uint64_t>(rsp + 16) & flag::kIf);
  EXPECT_EQ(bus_.peek<uint64_t>(rsp + 24), kStack);
  EXPECT_FALSE(core_.state().rflags & flag::kIf) << "interrupt gate clears IF";
}

TEST_F(CoreTest, IntNAndIretqRoundTrip) {
  gate(0x80, kHandler);
  // int 0x80; hlt      handler: mov eax, 0x42; iretq
  code({0xCD, 0x80, 0xF4});
  code({0xB8, 0x42, 0, 0, 0, 0x48, 0xCF}, kHandler);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(reg(kRax), 0x42u);
  EXPECT_EQ(core_.state().rip, kCode + 3);
  EXPECT_EQ(reg(kRsp), kStack);
}

TEST_F(CoreTest, IstStackAndGpErrorCode) {
  gate(13, kHandler, 1);
  code({0x66, 0xB8, 0x28, 0x00, 0x0F, 0x00, 0xD8,  // mov ax, 0x28; ltr ax
        0xB9, 0x78, 0x56, 0x34, 0x12, 0x0F, 0x32}); // mov ecx, 0x12345678; rdmsr -> #GP(0)
  code({0xF4}, kHandler);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().tr.selector, 0x28);
  EXPECT_EQ(reg(kRsp), kIstStack - 48) << "IST1 stack, six words with the error code";
  EXPECT_EQ(bus_.peek<uint64_t>(kIstStack - 48), 0u) << "error code";
  EXPECT_EQ(bus_.peek<uint64_t>(kIstStack - 40), kCode + 12) << "return RIP = the RDMSR";
}

TEST_F(CoreTest, NestedContributoryFaultsEscalateToDoubleFault) {
  gate(8, kHandler);
  gate(13, 0x2100, 0, /*present=*/false);  // #GP gate not present -> #NP during delivery
  gate(11, 0x2200, 0, false);
  code({0xB9, 0x78, 0x56, 0x34, 0x12, 0x0F, 0x32});  // rdmsr -> #GP
  code({0xF4}, kHandler);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().rip, kHandler + 1) << "#DF handler ran";
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp)), 0u) << "#DF error code is zero";
}

TEST_F(CoreTest, TripleFaultShutsDown) {
  core_.state().idtr = {kIdt, 0};  // no usable gates at all
  code({0x0F, 0x0B});
  ASSERT_EQ(run(), StopReason::kShutdown);
  EXPECT_EQ(core_.step(), StopReason::kShutdown) << "shutdown is sticky";
}

TEST_F(CoreTest, StiShadowDelaysInterruptOneInstruction) {
  gate(0x20, kHandler);
  code({0xFB, 0x90, 0x90, 0xF4});  // sti; nop; nop; hlt
  code({0xF4}, kHandler);
  core_.request_interrupt(0x20);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().rip, kHandler + 1);
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp)), kCode + 2) << "delivered after the NOP that follows STI";
}

TEST_F(CoreTest, SingleStepTrapsAfterOneInstruction) {
  gate(1, kHandler);
  core_.state().rflags |= flag::kTf;
  code({0x90, 0x90});
  code({0xF4}, kHandler);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp)), kCode + 1) << "#DB is a trap: return RIP is the next insn";
}

TEST_F(CoreTest, SyscallAndSysret) {
  core_.state().msr.star = (uint64_t{0x10} << 48) | (uint64_t{0x08} << 32);
  core_.state().msr.lstar = kHandler;
  core_.state().msr.sfmask = flag::kIf;
  core_.state().rflags |= flag::kIf;
  core_.state().tr.base = kTss;  // RSP0 for the #GP taken at CPL 3
  bus_.poke<uint64_t>(kTss + 4, kStack);
  code({0x0F, 0x05, 0xF4});                 // syscall; hlt (CPL 3 hlt -> #GP, stop_on_fault off)
  code({0x48, 0x0F, 0x07}, kHandler);       // sysretq
  gate(13, 0x2100);
  code({0xF4}, 0x2100);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().rip, 0x2101u) << "HLT at CPL 3 raised #GP";
  EXPECT_EQ(reg(kRcx), kCode + 2);
  EXPECT_TRUE(reg(kR11) & flag::kIf);
}

TEST_F(CoreTest, MovCrAndReservedBits) {
  gate(13, kHandler);
  code({0x0F, 0x20, 0xE0, 0x48, 0x0D, 0x80, 0, 0, 0, 0x0F, 0x22, 0xE0,  // cr4 |= PGE
        0x48, 0xC7, 0xC0, 0, 0, 0, 0x40, 0x0F, 0x22, 0xE0});        // cr4 = 1<<30 -> #GP
  code({0xF4}, kHandler);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_TRUE(core_.state().cr4 & 0x80);
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp) + 8), kCode + 19) << "#GP at the second MOV CR4";
}

// 4-level paging through mmu/: 4 KiB identity map of the first 1 MiB except linear page 0x60
// (not present) and page 0x61 (mapped to physical 0x62000).
TEST_F(CoreTest, PagingTranslatesAndRaisesPageFaults) {
  constexpr uint64_t kPml4 = 0xA000, kPdpt = 0xB000, kPd = 0xC000, kPt = 0xD000;
  bus_.poke<uint64_t>(kPml4, kPdpt | 3);
  bus_.poke<uint64_t>(kPdpt, kPd | 3);
  bus_.poke<uint64_t>(kPd, kPt | 3);
  for (uint64_t page = 0; page < 256; ++page) bus_.poke<uint64_t>(kPt + page * 8, (page << 12) | 3);
  bus_.poke<uint64_t>(kPt + 0x60 * 8, 0);
  bus_.poke<uint64_t>(kPt + 0x61 * 8, 0x62000 | 3);
  bus_.poke<uint64_t>(0x62008, 0x1122334455667788);
  core_.state().cr3 = kPml4;
  core_.state().cr0 |= ctl::kCr0Pg | ctl::kCr0Wp;
  gate(14, kHandler);
  // mov rax, [0x61008]; mov rbx, [0x60000]
  code({0x48, 0x8B, 0x04, 0x25, 0x08, 0x10, 0x06, 0x00, 0x48, 0x8B, 0x1C, 0x25, 0x00, 0x00, 0x06, 0x00});
  code({0xF4}, kHandler);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(reg(kRax), 0x1122334455667788u) << "linear 0x61008 reads physical 0x62008";
  EXPECT_EQ(core_.state().rip, kHandler + 1) << "#PF handler ran";
  EXPECT_EQ(core_.state().cr2, 0x60000u);
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp)), 0u) << "error code: not present, read, supervisor";
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp) + 8), kCode + 8) << "return RIP = the faulting MOV";
  EXPECT_TRUE(bus_.peek<uint64_t>(kPt + 0x61 * 8) & 0x20) << "Accessed bit set by the walk";
  EXPECT_GT(core_.tlb().stats().misses, 0u);
}

class PagingTest : public CoreTest {
 protected:
  static constexpr uint64_t kPml4 = 0xA000, kPdpt = 0xB000, kPd = 0xC000, kPt = 0xD000;
  PagingTest() {
    bus_.poke<uint64_t>(kPml4, kPdpt | 3);
    bus_.poke<uint64_t>(kPdpt, kPd | 3);
    bus_.poke<uint64_t>(kPd, kPt | 3);
    for (uint64_t page = 0; page < 256; ++page) bus_.poke<uint64_t>(kPt + page * 8, (page << 12) | 3);
    core_.state().cr3 = kPml4;
    core_.state().cr0 |= ctl::kCr0Pg | ctl::kCr0Wp;
  }
  void map(uint64_t page, uint64_t entry) { bus_.poke<uint64_t>(kPt + page * 8, entry); }
};

TEST_F(PagingTest, StaleTlbEntryUntilInvlpg) {
  bus_.poke<uint64_t>(0x70000, 0xAAAA);
  bus_.poke<uint64_t>(0x71000, 0xBBBB);
  map(0x60, 0x70000 | 3);
  // mov rax, [0x60000]; mov qword [0xD300], 0x71003 (PTE of page 0x60 -> 0x71000);
  // mov rbx, [0x60000] (stale TLB: still 0x70000); invlpg [0x60000]; mov rcx, [0x60000]; hlt
  code({0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x06, 0x00,
        0x48, 0xC7, 0x04, 0x25, 0x00, 0xD3, 0x00, 0x00, 0x03, 0x10, 0x07, 0x00,
        0x48, 0x8B, 0x1C, 0x25, 0x00, 0x00, 0x06, 0x00,
        0x0F, 0x01, 0x3C, 0x25, 0x00, 0x00, 0x06, 0x00,
        0x48, 0x8B, 0x0C, 0x25, 0x00, 0x00, 0x06, 0x00, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(reg(kRax), 0xAAAAu);
  EXPECT_EQ(reg(kRbx), 0xAAAAu) << "the TLB keeps the old translation until invalidated (APM vol 2, 5.5)";
  EXPECT_EQ(reg(kRcx), 0xBBBBu) << "INVLPG drops it";
}

TEST_F(PagingTest, FetchAcrossIntoANonPresentPageFaults) {
  map(0x02, 0);  // linear page 0x2000 not present
  gate(14, 0x3800);
  code({0xF4}, 0x3800);
  // mov eax, imm32 whose last two bytes lie on the absent page, starting at 0x1FFD.
  core_.state().rip = 0x1FFD;
  code({0xB8, 0x01, 0x02}, 0x1FFD);
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().rip, 0x3801u);
  EXPECT_EQ(core_.state().cr2, 0x2000u);
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp)), 0x10u) << "error code: not present, instruction fetch (I/D)";
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp) + 8), 0x1FFDu);
}

TEST_F(CoreTest, UnimplementedSvmInstructionStops) {
  code({0x0F, 0x01, 0xDE});  // skinit
  ASSERT_EQ(run(), StopReason::kUnimplemented);
  EXPECT_EQ(core_.stop_info().insn, InsnId::SKINIT);
}

TEST_F(CoreTest, FetchOutsideMemoryIsBusError) {
  core_.state().rip = 0x200000;
  ASSERT_EQ(run(), StopReason::kBusError);
  EXPECT_EQ(core_.stop_info().address, 0x200000u);
}

}  // namespace
}  // namespace snpemu::cpu
