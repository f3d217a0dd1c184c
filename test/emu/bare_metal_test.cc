// `snpemu exec` semantics: gcc-compiled guests run on the emulated core and print exactly what
// the same C code prints natively; the exit port, HLT and limits end runs as documented.
#include "emu/exec/bare_metal.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "test/guests/native_shim.h"
#include "test/util/runfiles.h"

extern "C" long guest_main_checksum(void);
extern "C" long guest_main_sort(void);

namespace snpemu {
namespace {

std::vector<uint8_t> read_guest_image(const std::string& name) {
  return test::read_runfile("test/guests/" + name);
}

struct GuestCase {
  const char* elf;
  long (*native_main)();
};

class GuestMatchesNative : public ::testing::TestWithParam<GuestCase> {};

TEST_P(GuestMatchesNative, ConsoleOutputAndExitStatus) {
  const GuestCase& c = GetParam();
  test::take_native_output();
  const long native_status = c.native_main();
  const std::string native_out = test::take_native_output();

  std::ostringstream console;
  auto r = run_bare_metal(read_guest_image(c.elf), BareMetalOptions{64 << 20, 0}, console);
  ASSERT_TRUE(r.has_value()) << c.elf << ": " << r.error() << "\nconsole so far:\n"
                             << console.str();
  EXPECT_EQ(console.str(), native_out) << c.elf;
  EXPECT_EQ(r->end, BareMetalResult::End::kExitPort);
  EXPECT_EQ(r->exit_status, static_cast<int>(((native_status << 1) | 1) & 0xFF));
  EXPECT_GT(r->instructions, 1000u);
  EXPECT_GT(r->cycles, r->instructions / 8) << "every instruction is charged cycles";
}

INSTANTIATE_TEST_SUITE_P(Guests, GuestMatchesNative,
                         ::testing::Values(GuestCase{"checksum.elf", guest_main_checksum},
                                           GuestCase{"sort.elf", guest_main_sort}),
                         [](const auto& p) {
                           std::string n = p.param.elf;
                           return n.substr(0, n.find('.'));
                         });

TEST(BareMetal, SameImageGivesSameCyclesAndInstructions) {
  const auto elf = read_guest_image("checksum.elf");
  std::ostringstream a, b;
  auto ra = run_bare_metal(elf, BareMetalOptions{64 << 20, 0}, a);
  auto rb = run_bare_metal(elf, BareMetalOptions{64 << 20, 0}, b);
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->cycles, rb->cycles);
  EXPECT_EQ(ra->instructions, rb->instructions);
  EXPECT_EQ(a.str(), b.str());
}

TEST(BareMetal, InstructionLimitStopsExactly) {
  std::ostringstream console;
  auto r = run_bare_metal(read_guest_image("sort.elf"), BareMetalOptions{64 << 20, 5000}, console);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->end, BareMetalResult::End::kInsnLimit);
  EXPECT_EQ(r->instructions, 5000u);
}

TEST(BareMetal, BadImagesAndMemoryAreClearErrors) {
  std::ostringstream console;
  EXPECT_EQ(run_bare_metal(std::vector<uint8_t>(8), BareMetalOptions{}, console).error(),
            "ELF: file is 8 bytes, shorter than the 64-byte ELF64 header");
  EXPECT_EQ(
      run_bare_metal(read_guest_image("sort.elf"), BareMetalOptions{1 << 20, 0}, console).error(),
      "memory of 1048576 bytes is below the 2 MiB a bare-metal run needs");
  // sort.elf's .bss ends above 1 MiB + 16 KiB: 1 MiB + 8 KiB of RAM cannot hold it.
  auto r = run_bare_metal(read_guest_image("sort.elf"), BareMetalOptions{(2 << 20), 0}, console);
  EXPECT_TRUE(r.has_value()) << "2 MiB holds the image: " << r.error();
}

}  // namespace
}  // namespace snpemu
