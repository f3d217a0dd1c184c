// A core over flat test memory with an IDT, a GDT and a 64-bit TSS, able to drop to CPL 3:
// shared by the alignment-check and I/O-permission state vectors.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cpu/cpu.h"
#include "test/cpu/flat_bus.h"

namespace snpemu::cpu::testing {

class UserModeTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kCode = 0x1000;
  static constexpr uint64_t kIdt = 0x3000;
  static constexpr uint64_t kGdt = 0x4000;
  static constexpr uint64_t kTss = 0x10000;
  static constexpr uint64_t kData = 0x6000;
  static constexpr uint64_t kUserStack = 0x8000;
  static constexpr uint64_t kKernelStack = 0x9000;
  // One handler per vector: `hlt` at kHandlers + 16 * vector.
  static constexpr uint64_t kHandlers = 0x2000;

  UserModeTest() : core_(bus_, CoreConfig{}) {
    core_.state() = long_mode_state(kCode, kUserStack);
    // GDT: null, 0x08 64-bit code, 0x10 data, 0x18 data DPL 3.
    bus_.poke<uint64_t>(kGdt + 0x08, 0x00AF9A000000FFFF);
    bus_.poke<uint64_t>(kGdt + 0x10, 0x00CF92000000FFFF);
    bus_.poke<uint64_t>(kGdt + 0x18, 0x00CFF2000000FFFF);
    core_.state().gdtr = {kGdt, 0x37};
    core_.state().idtr = {kIdt, 0xFFF};
    for (unsigned v = 0; v < 32; ++v) {
      const uint64_t target = handler(v);
      const uint64_t lo = (target & 0xFFFF) | (uint64_t{0x08} << 16) | (uint64_t{0x8E} << 40) |
                          (((target >> 16) & 0xFFFF) << 48);
      bus_.poke<uint64_t>(kIdt + v * 16, lo);
      bus_.poke<uint64_t>(kIdt + v * 16 + 8, target >> 32);
      bus_.poke<uint8_t>(target, 0xF4);  // hlt
    }
    core_.state().tr.base = kTss;
    core_.state().tr.limit = 0x67;
    bus_.poke<uint64_t>(kTss + 4, kKernelStack);  // RSP0
  }
  static uint64_t handler(unsigned vector) { return kHandlers + 16 * vector; }
  void code(std::vector<uint8_t> bytes, uint64_t at = kCode) { bus_.load(at, bytes); }
  /// CPL 3 (the core's CPL is state().cpl; the selectors' RPLs made to agree).
  void enter_user() {
    core_.state().cpl = 3;
    core_.state().seg[kCs].selector = 0x08 | 3;
    core_.state().seg[kSs].selector = 0x18 | 3;
  }
  StopReason run() { return core_.run(100000); }
  uint64_t& reg(Gpr r) { return core_.state().gpr[r]; }
  /// Expects the core halted in the handler of `vector`, entered from `rip` with `error_code`.
  void expect_fault(unsigned vector, uint64_t rip, uint64_t error_code) {
    EXPECT_EQ(core_.state().rip, handler(vector) + 1)
        << "expected the handler of vector " << vector << ", halted at 0x" << std::hex
        << core_.state().rip;
    EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp)), error_code) << "error code";
    EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp) + 8), rip) << "return RIP = the faulting instruction";
  }

  FlatBus bus_{1 << 20};
  Core core_;
};

}  // namespace snpemu::cpu::testing
