// The predecode cache (cpu/predecode.h): self-modifying code (the core's own stores and string
// ops), cross-modifying code (a bus-side write between runs), instructions on and across a
// page boundary, and determinism: every program runs with the cache on and off (and with and
// without CpuBus::readable_page) and must end in the same state, memory, instruction count and
// cycle count.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cpu/cpu.h"
#include "test/cpu/flat_bus.h"

namespace snpemu::cpu {
namespace {

using testing::FlatBus;

constexpr uint64_t kCode = 0x1000;
constexpr uint64_t kStack = 0x8000;
constexpr uint64_t kData = 0x40000;
constexpr size_t kMemory = 1 << 20;
// Identity map of the first 2 MiB with one 2 MiB page: PML4, PDPT, PD.
constexpr uint64_t kPml4 = 0x80000, kPdpt = 0x81000, kPd = 0x82000;

// One configuration of the core and its bus.
struct Variant {
  bool cache;
  bool page_pointers;
  bool paging;
  std::string name() const {
    return std::string(cache ? "cache" : "nocache") + (page_pointers ? "_ptr" : "_read") +
           (paging ? "_paging" : "_flat");
  }
};

// A machine: flat memory and one core, configured by a Variant.
class Rig {
 public:
  explicit Rig(const Variant& v) : bus(kMemory), core(bus, CoreConfig{.predecode_cache = v.cache}) {
    bus.page_pointers = v.page_pointers;
    core.state() = long_mode_state(kCode, kStack);
    if (v.paging) {
      bus.poke<uint64_t>(kPml4, kPdpt | 3);
      bus.poke<uint64_t>(kPdpt, kPd | 3);
      bus.poke<uint64_t>(kPd, 0x83);  // P, RW, PS: 2 MiB at 0
      core.state().cr3 = kPml4;
      core.state().cr0 |= ctl::kCr0Pg;
    }
  }
  void code(uint64_t at, std::vector<uint8_t> bytes) { bus.load(at, bytes); }
  StopReason run_from(uint64_t rip) {
    core.state().rip = rip;
    return core.run(1'000'000);
  }
  uint64_t reg(Gpr r) const { return core.state().gpr[r]; }

  FlatBus bus;
  Core core;
};

class PredecodeTest : public ::testing::TestWithParam<Variant> {};

// mov eax, imm32 (B8 id)
std::vector<uint8_t> mov_eax(uint32_t v) {
  return {0xB8, static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}

TEST_P(PredecodeTest, StoreRewritesTheNextInstruction) {
  Rig r(GetParam());
  // kCode+0: mov byte [rip+1], 0x2A   (C6 05 disp32 ib: writes the imm of the next MOV)
  // kCode+7: mov eax, 1; kCode+12: hlt
  r.code(kCode, {0xC6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x2A});
  r.code(kCode + 7, mov_eax(1));
  r.code(kCode + 12, {0xF4});
  ASSERT_EQ(r.run_from(kCode + 7), StopReason::kHalt);  // caches the original MOV
  ASSERT_EQ(r.reg(kRax), 1u) << GetParam().name();
  ASSERT_EQ(r.run_from(kCode), StopReason::kHalt);
  EXPECT_EQ(r.reg(kRax), 0x2Au) << GetParam().name()
                                << ": expected the rewritten imm 0x2A from the MOV at gpa 0x1007";
  if (GetParam().cache) {
    EXPECT_GE(r.core.predecode_stats().modified, 1u) << "the stale entry was seen";
  }
}

TEST_P(PredecodeTest, SelfModifyingLoopExecutesEachNewByte) {
  Rig r(GetParam());
  // Each pass patches the imm8 of the ADD that follows with the loop counter:
  // L: mov [rip+2], cl (88 0D disp32 -> kCode+8); add ebx, imm8 (83 C3 ib); dec ecx; jnz L; hlt
  r.code(kCode, {0x88, 0x0D, 0x02, 0x00, 0x00, 0x00,  // mov [rip+2], cl   (next rip kCode+6)
                 0x83, 0xC3, 0x00,                    // add ebx, imm8 at kCode+8
                 0xFF, 0xC9,                          // dec ecx
                 0x75, 0xF3,                          // jnz kCode
                 0xF4});
  r.core.state().gpr[kRcx] = 10;
  ASSERT_EQ(r.run_from(kCode), StopReason::kHalt);
  EXPECT_EQ(r.reg(kRbx), 55u) << GetParam().name() << ": expected 10+9+...+1 from patched immediates";
}

TEST_P(PredecodeTest, RepMovsOverwritesCachedCode) {
  Rig r(GetParam());
  const uint64_t target = kCode + 0x20;
  r.code(target, mov_eax(1));
  r.code(target + 5, {0xF4});
  ASSERT_EQ(r.run_from(target), StopReason::kHalt);  // caches mov eax, 1
  ASSERT_EQ(r.reg(kRax), 1u);
  r.code(kData, mov_eax(0x1234));
  // mov esi, kData; mov edi, target; mov ecx, 5; rep movsb; jmp target
  r.code(kCode, {0xBE, 0x00, 0x00, 0x04, 0x00, 0xBF, 0x20, 0x10, 0x00, 0x00, 0xB9, 0x05, 0x00, 0x00,
                 0x00, 0xF3, 0xA4, 0xEB, 0x0D});
  ASSERT_EQ(r.run_from(kCode), StopReason::kHalt);
  EXPECT_EQ(r.reg(kRax), 0x1234u) << GetParam().name() << ": expected the copied MOV at gpa 0x1020";
}

TEST_P(PredecodeTest, BusWriteBetweenRunsIsSeenAtTheNextFetch) {
  Rig r(GetParam());
  r.code(kCode, mov_eax(1));
  r.code(kCode + 5, {0xF4});
  ASSERT_EQ(r.run_from(kCode), StopReason::kHalt);
  ASSERT_EQ(r.reg(kRax), 1u);
  // Another writer (a second core, the hypervisor, DMA) changes the code behind the core's back.
  r.bus.poke<uint8_t>(kCode + 1, 7);
  ASSERT_EQ(r.run_from(kCode), StopReason::kHalt);
  EXPECT_EQ(r.reg(kRax), 7u) << GetParam().name() << ": expected the cross-modified imm at gpa 0x1001";
  r.bus.poke<uint8_t>(kCode, 0xBB);  // the opcode itself: now mov ebx, imm32
  r.core.state().gpr[kRax] = 0;
  ASSERT_EQ(r.run_from(kCode), StopReason::kHalt);
  EXPECT_EQ(r.reg(kRbx), 7u) << GetParam().name() << ": expected mov ebx at gpa 0x1000";
  EXPECT_EQ(r.reg(kRax), 0u) << GetParam().name();
}

TEST_P(PredecodeTest, InstructionAcrossAPageBoundarySeesTheSecondPage) {
  Rig r(GetParam());
  // mov eax, imm32 at 0x1FFE: opcode and one imm byte on the first page, three on the next.
  r.code(0x1FFE, mov_eax(0x44332211));
  r.code(0x2003, {0xF4});
  ASSERT_EQ(r.run_from(0x1FFE), StopReason::kHalt);
  ASSERT_EQ(r.reg(kRax), 0x44332211u);
  r.bus.poke<uint8_t>(0x2001, 0x99);  // byte 3 of the imm, on the second page
  ASSERT_EQ(r.run_from(0x1FFE), StopReason::kHalt);
  EXPECT_EQ(r.reg(kRax), 0x44992211u) << GetParam().name() << ": expected the new byte at gpa 0x2001";
}

TEST_P(PredecodeTest, StoreAtPageEndRewritesTheFirstInstructionOfTheNextPage) {
  Rig r(GetParam());
  // 0x1FF9: mov byte [rip+1], 0x5A (ends at 0x1FFF; writes 0x2001, the imm of mov ebx at 0x2000)
  r.code(0x1FF9, {0xC6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x5A});
  r.code(0x2000, {0xBB, 0x01, 0x00, 0x00, 0x00, 0xF4});
  ASSERT_EQ(r.run_from(0x2000), StopReason::kHalt);  // caches mov ebx, 1
  ASSERT_EQ(r.reg(kRbx), 1u);
  ASSERT_EQ(r.run_from(0x1FF9), StopReason::kHalt);
  EXPECT_EQ(r.reg(kRbx), 0x5Au) << GetParam().name() << ": expected imm 0x5A at gpa 0x2001";
}

INSTANTIATE_TEST_SUITE_P(Variants, PredecodeTest,
                         ::testing::Values(Variant{true, true, false}, Variant{true, false, false},
                                           Variant{false, true, false}, Variant{true, true, true},
                                           Variant{true, false, true}, Variant{false, true, true}),
                         [](const ::testing::TestParamInfo<Variant>& i) { return i.param.name(); });

// Determinism: the same programs with the cache on and off end identically, cycles included.
struct Program {
  const char* name;
  uint64_t entry;
  std::function<void(Rig&)> setup;
};

std::vector<Program> programs() {
  return {
      {"checksum", kCode,
       [](Rig& r) {
         // movzx edx, byte [rsi]; add eax, edx; imul eax, eax, 31; xor eax, edx; inc rsi;
         // dec rcx; jnz; hlt
         r.code(kCode, {0x0F, 0xB6, 0x16, 0x01, 0xD0, 0x6B, 0xC0, 0x1F, 0x31, 0xD0, 0x48, 0xFF, 0xC6,
                        0x48, 0xFF, 0xC9, 0x75, 0xEE, 0xF4});
         for (uint64_t i = 0; i < 3000; ++i) r.bus.poke<uint8_t>(kData + i, static_cast<uint8_t>(i * 7 + 3));
         r.core.state().gpr[kRsi] = kData;
         r.core.state().gpr[kRcx] = 3000;
       }},
      {"self_modifying_loop", kCode,
       [](Rig& r) {
         r.code(kCode, {0x88, 0x0D, 0x02, 0x00, 0x00, 0x00, 0x83, 0xC3, 0x00, 0xFF, 0xC9, 0x75, 0xF3, 0xF4});
         r.core.state().gpr[kRcx] = 200;
       }},
      {"calls_strings_and_page_end", 0x1FF0,
       [](Rig& r) {
         // 0x1FF0: mov ecx, 300; call 0x3000; dec ecx... the body straddles the page end:
         // 0x1FF0 B9 2C 01 00 00        mov ecx, 300
         // 0x1FF5 E8 06 10 00 00        call 0x3000
         // 0x1FFA FF C9                 dec ecx
         // 0x1FFC 75 F7                 jnz 0x1FF5
         // 0x1FFE 48 B8 (8 bytes)       movabs rax, imm64 (crosses into 0x2000)
         // 0x2008 F4                    hlt
         r.code(0x1FF0, {0xB9, 0x2C, 0x01, 0x00, 0x00, 0xE8, 0x06, 0x10, 0x00, 0x00, 0xFF, 0xC9, 0x75, 0xF7,
                         0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8, 0xF4});
         // 0x3000: push rcx; mov esi, kData; mov edi, kData+0x100; mov ecx, 64; rep movsb;
         //         pop rcx; ret
         r.code(0x3000, {0x51, 0xBE, 0x00, 0x00, 0x04, 0x00, 0xBF, 0x00, 0x01, 0x04, 0x00, 0xB9, 0x40, 0x00,
                         0x00, 0x00, 0xF3, 0xA4, 0x59, 0xC3});
       }},
  };
}

TEST(PredecodeDeterminism, CacheOnAndOffAgreeOnStateMemoryInstructionsAndCycles) {
  for (const Program& p : programs()) {
    for (bool paging : {false, true}) {
      Rig off(Variant{false, true, paging});
      Rig on(Variant{true, true, paging});
      Rig on_read(Variant{true, false, paging});
      for (Rig* r : {&off, &on, &on_read}) p.setup(*r);
      const StopReason r_off = off.run_from(p.entry);
      const std::string what = std::string(p.name) + (paging ? " with paging" : " without paging");
      ASSERT_EQ(r_off, StopReason::kHalt) << what << ": rip " << std::hex << off.core.state().rip;
      for (Rig* r : {&on, &on_read}) {
        EXPECT_EQ(r->run_from(p.entry), r_off) << what;
        EXPECT_EQ(r->core.cycles(), off.core.cycles()) << what << ": expected identical cycles";
        EXPECT_EQ(r->core.instructions(), off.core.instructions()) << what;
        EXPECT_TRUE(r->core.state() == off.core.state()) << what << ": final architectural state differs";
        EXPECT_TRUE(r->bus.bytes() == off.bus.bytes()) << what << ": memory differs";
        EXPECT_EQ(r->core.tlb().stats().misses, off.core.tlb().stats().misses) << what;
        EXPECT_GT(r->core.predecode_stats().hits, 0u) << what << ": the cache was used";
      }
      EXPECT_EQ(off.core.predecode_stats().hits + off.core.predecode_stats().misses, 0u) << what;
    }
  }
}

}  // namespace
}  // namespace snpemu::cpu
