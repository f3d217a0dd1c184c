// A hostile guest never crashes or hangs the model: seeded random machine code (with a bias
// toward the opcodes that exit: I/O, CPUID, MSRs, HLT, VMMCALL, INT, the SVM and SNP
// instructions) runs under the hypervisor; every run ends with a result or one error line, and
// the same seed gives the same outcome.
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "emu/vmm/runner.h"
#include "test/emu/elf_builder.h"
#include "test/util/splitmix64.h"

namespace snpemu {
namespace {

using Rng = test::SplitMix64;  // an explicit, printed seed (no host randomness)

std::vector<uint8_t> hostile_code(Rng& rng) {
  static const std::vector<std::vector<uint8_t>> kExiting = {
      {0xE6, 0xE9},              // out 0xe9, al
      {0xE4, 0x60},              // in al, 0x60
      {0x0F, 0xA2},              // cpuid
      {0x0F, 0x32},              // rdmsr
      {0x0F, 0x30},              // wrmsr
      {0xF4},                    // hlt
      {0x0F, 0x01, 0xD9},        // vmmcall
      {0xF3, 0x0F, 0x01, 0xD9},  // vmgexit
      {0x0F, 0x01, 0xD8},        // vmrun
      {0xF2, 0x0F, 0x01, 0xFF},  // pvalidate
      {0xCD, 0x80},              // int 0x80
      {0x0F, 0x0B},              // ud2
      {0xF3, 0x6E},              // rep outsb
      {0x0F, 0x22, 0xD8},        // mov cr3, rax
  };
  std::vector<uint8_t> code;
  while (code.size() < 256) {
    if (rng.next() % 3 == 0) {
      const auto& e = kExiting[rng.next() % kExiting.size()];
      code.insert(code.end(), e.begin(), e.end());
    } else {
      code.push_back(static_cast<uint8_t>(rng.next()));
    }
  }
  return code;
}

TEST(HostileGuest, RandomCodeEndsCleanlyAndDeterministically) {
  constexpr uint64_t kSeed = 0x0BAD'C0DE'0000'0001;
  Rng rng(kSeed);
  int ended_with_error = 0, shut_down = 0, ran_with_exits = 0;
  for (int i = 0; i < 300; ++i) {
    test::ElfBuilder elf;
    elf.add(0x100000, hostile_code(rng), 0x2000);
    vmm::GuestRunOptions o;
    o.mem_bytes = uint64_t{16} << 20;
    o.max_cycles = 200'000;
    std::ostringstream c1, c2;
    const auto image = elf.bytes();
    auto a = vmm::run_guest(image, o, c1);
    auto b = vmm::run_guest(image, o, c2);
    ASSERT_EQ(a.has_value(), b.has_value()) << "seed " << kSeed << " case " << i;
    EXPECT_EQ(c1.str(), c2.str()) << "case " << i;
    if (a) {
      if (a->exits > 0) ++ran_with_exits;
      EXPECT_EQ(a->cycles, b->cycles) << "case " << i;
      EXPECT_EQ(a->exits, b->exits) << "case " << i;
    } else {
      ++ended_with_error;
      if (a.error().find("shut down") != std::string::npos) ++shut_down;
      EXPECT_EQ(a.error(), b.error()) << "case " << i;
      EXPECT_EQ(a.error().find('\n'), std::string::npos) << "one line: " << a.error();
    }
  }
  EXPECT_GT(ended_with_error, 0) << "most random code triple-faults: the error path is exercised";
  EXPECT_GT(shut_down, 0) << "triple faults reach the VMM as KVM_EXIT_SHUTDOWN";
  EXPECT_GT(ran_with_exits, 0) << "some runs execute exiting instructions and survive";
}

}  // namespace
}  // namespace snpemu
