// Each test guest under the hypervisor model: the same console output and exit status as the
// bare-metal run of the same image, plus the exits the hypervisor handled on the way (every
// console byte is an IOIO intercept handled by the in-kernel debug console; guest RAM is
// faulted in through NPF map-on-demand).
#include "emu/vmm/runner.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "emu/exec/bare_metal.h"
#include "test/util/runfiles.h"

namespace snpemu {
namespace {

std::vector<uint8_t> image(const std::string& name) { return test::read_runfile("test/guests/" + name); }

class UnderHypervisor : public ::testing::TestWithParam<const char*> {};

TEST_P(UnderHypervisor, MatchesBareMetal) {
  const auto elf = image(GetParam());
  std::ostringstream bare_console;
  auto bare = run_bare_metal(elf, BareMetalOptions{uint64_t{64} << 20, 0}, bare_console);
  ASSERT_TRUE(bare.has_value()) << bare.error();
  std::ostringstream console;
  vmm::GuestRunOptions o;
  o.mem_bytes = uint64_t{64} << 20;
  auto r = vmm::run_guest(elf, o, console);
  ASSERT_TRUE(r.has_value()) << GetParam() << ": " << r.error() << "\nconsole so far:\n" << console.str();
  EXPECT_EQ(console.str(), bare_console.str());
  EXPECT_EQ(r->exit_status, bare->exit_status);
  EXPECT_EQ(r->end == vmm::GuestRunResult::End::kExitPort, bare->end == BareMetalResult::End::kExitPort);
  EXPECT_GT(r->exits, console.str().size()) << "one IOIO exit per console byte, plus the NPFs";
  EXPECT_GT(r->cycles, bare->cycles) << "world switches and handlers cost cycles";
}

INSTANTIATE_TEST_SUITE_P(Guests, UnderHypervisor,
                         ::testing::Values("checksum.elf", "sort.elf", "interp.elf", "smc.elf",
                                           "pagefault.elf", "interrupts.elf"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           return n.substr(0, n.find('.'));
                         });

TEST(Runner, MalformedImageIsAClearError) {
  const std::vector<uint8_t> junk = {0x7F, 'E', 'L', 'F', 1};
  std::ostringstream console;
  auto r = vmm::run_guest(junk, vmm::GuestRunOptions{}, console);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().rfind("ELF:", 0), 0u) << r.error();
}

}  // namespace
}  // namespace snpemu
