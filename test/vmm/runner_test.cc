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

// SEV-ES end to end: the guest's state lives in the VMSA, its intercepted CPUID / IN / OUT
// become #VC, its handler talks to the hypervisor through the GHCB (protocol negotiated within
// the VMM's range, CPUID by the MSR protocol and by the GHCB, port I/O to the in-kernel debug
// console) and it ends with a GHCB termination request that reaches the VMM as SEV_TERM.
TEST(Runner, SevEsGuestTalksThroughTheGhcb) {
  std::ostringstream console;
  vmm::GuestRunOptions o;
  o.type = hv::VmType::kSevEs;
  o.mem_bytes = uint64_t{64} << 20;
  auto r = vmm::run_guest(image("sev_es_hello.elf"), o, console);
  ASSERT_TRUE(r.has_value()) << r.error() << "\nconsole so far:\n" << console.str();
  EXPECT_EQ(console.str(),
            "sev_es_hello: protocol v2 snp=0\n"
            "cbit msr=51 ghcb=51 insn=51\n"
            "in 0xe9 -> 0x00000000000000e9\n"
            "sev_es_hello: ok vc=113\n");
  EXPECT_EQ(r->end, vmm::GuestRunResult::End::kTerminated);
  EXPECT_EQ(r->reason_set, 0);
  EXPECT_EQ(r->reason_code, 0);
  EXPECT_EQ(r->exit_status, 0);
  EXPECT_GT(r->exits, 113u) << "one VMGEXIT per #VC at least";
  // Launched through the legacy SEV launch: encrypted and measured.
  ASSERT_TRUE(r->sev_measurement.has_value());
  EXPECT_NE(*r->sev_measurement, (std::array<uint8_t, 48>{}));
  std::ostringstream again_console;
  auto again = vmm::run_guest(image("sev_es_hello.elf"), o, again_console);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->sev_measurement, r->sev_measurement) << "same image, same machine seed";
}

// The VMM advertises GHCB protocol versions the guest does not speak (3..3; the guest library
// speaks 1..2): the guest terminates with set 0 code 1 (GHCB_SEV_ES_PROT_UNSUPPORTED), as
// Linux does, and the reason reaches the VMM.
TEST(Runner, SevEsGuestTerminatesWhenTheProtocolRangesDoNotOverlap) {
  std::ostringstream console;
  vmm::GuestRunOptions o;
  o.type = hv::VmType::kSevEs;
  o.mem_bytes = uint64_t{64} << 20;
  o.ghcb_min = 3;
  o.ghcb_max = 3;
  auto r = vmm::run_guest(image("sev_es_hello.elf"), o, console);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->end, vmm::GuestRunResult::End::kTerminated);
  EXPECT_EQ(r->reason_set, 0);
  EXPECT_EQ(r->reason_code, 1);
  EXPECT_EQ(console.str(), "") << "nothing printed before the negotiation";
}

TEST(Runner, SevEsTerminationReasonReachesTheVmm) {
  std::ostringstream console;
  vmm::GuestRunOptions o;
  o.type = hv::VmType::kSevEs;
  o.mem_bytes = uint64_t{64} << 20;
  auto r = vmm::run_guest(image("sev_es_terminate.elf"), o, console);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->end, vmm::GuestRunResult::End::kTerminated);
  EXPECT_EQ(r->reason_set, 0xF);
  EXPECT_EQ(r->reason_code, 0xA5);
  EXPECT_EQ(r->exit_status, 1);
}

TEST(Runner, MalformedImageIsAClearError) {
  const std::vector<uint8_t> junk = {0x7F, 'E', 'L', 'F', 1};
  std::ostringstream console;
  auto r = vmm::run_guest(junk, vmm::GuestRunOptions{}, console);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().rfind("ELF:", 0), 0u) << r.error();
}

}  // namespace
}  // namespace snpemu
