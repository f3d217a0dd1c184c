// Guest programs on the emulated core: compute guests print exactly what their native twins
// print; the page-fault and interrupt guests report the architectural error codes, saved RIPs
// and frame layouts the APM specifies (vol 2, 8.4.2 and 8.9.3), asserted here line by line.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "emu/exec/bare_metal.h"
#include "test/guests/native_shim.h"
#include "test/util/runfiles.h"

extern "C" long guest_main_interp(void);
extern "C" long guest_main_pagefault(void);
extern "C" long guest_main_smc(void);

namespace snpemu {
namespace {

std::vector<uint8_t> read_guest_image(const std::string& name) {
  return test::read_runfile("test/guests/" + name);
}

constexpr uint64_t kGuestMemory = 64 << 20;

struct GuestRun {
  BareMetalResult result;
  std::string console;
};

// Runs a guest image to its exit port; fails the test with the console so far otherwise.
::testing::AssertionResult run_guest(const std::string& elf, GuestRun* out) {
  std::ostringstream console;
  auto r = run_bare_metal(read_guest_image(elf), BareMetalOptions{kGuestMemory, 0}, console);
  out->console = console.str();
  if (!r) {
    return ::testing::AssertionFailure() << elf << ": " << r.error() << "\nconsole so far:\n"
                                         << out->console;
  }
  out->result = *r;
  if (r->end != BareMetalResult::End::kExitPort) {
    return ::testing::AssertionFailure() << elf << " did not end at the exit port\n"
                                         << out->console;
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) v.push_back(line);
  return v;
}

std::string hex16(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---- Compute guests: emulated output and exit status equal the native twin's. ----

struct TwinCase {
  const char* elf;
  long (*native_main)();
};

class ProgramMatchesNative : public ::testing::TestWithParam<TwinCase> {};

TEST_P(ProgramMatchesNative, ConsoleOutputAndExitStatus) {
  const TwinCase& c = GetParam();
  test::take_native_output();
  const long native_status = c.native_main();
  const std::string native_out = test::take_native_output();
  ASSERT_EQ(native_status, 0) << "native twin of " << c.elf << " failed:\n" << native_out;

  GuestRun run;
  ASSERT_TRUE(run_guest(c.elf, &run));
  EXPECT_EQ(run.console, native_out) << c.elf << ": emulated output differs from native";
  EXPECT_EQ(run.result.exit_status, 1) << c.elf << ": guest_main returned non-zero";
  EXPECT_GT(run.result.instructions, 10000u) << c.elf;
}

INSTANTIATE_TEST_SUITE_P(Programs, ProgramMatchesNative,
                         ::testing::Values(TwinCase{"interp.elf", guest_main_interp},
                                           TwinCase{"smc.elf", guest_main_smc}),
                         [](const auto& p) {
                           std::string n = p.param.elf;
                           return n.substr(0, n.find('.'));
                         });

// The self-modifying guest's results are also checked against values known independently of
// both runs: the store into the next instruction must take effect, and a self-incrementing
// immediate counts calls.
TEST(SelfModifyingCode, StoreIntoNextInstructionTakesEffect) {
  GuestRun run;
  ASSERT_TRUE(run_guest("smc.elf", &run));
  std::string expected;
  for (uint32_t v = 1; v < 0x40000000u; v = v * 5 + 3) {
    expected += "store-next " + std::to_string(v) + "\n";
  }
  expected += "self-increment sum 55\nafter reset 1\n";
  ASSERT_GE(run.console.size(), expected.size()) << run.console;
  EXPECT_EQ(run.console.substr(run.console.size() - expected.size()), expected) << run.console;
}

// ---- Demand paging: the checksum equals native; the fault sequence is architectural. ----

TEST(PageFaultGuest, MapsOnDemandWithArchitecturalErrorCodes) {
  test::take_native_output();
  ASSERT_EQ(guest_main_pagefault(), 0);
  const std::string native_out = test::take_native_output();

  GuestRun run;
  ASSERT_TRUE(run_guest("pagefault.elf", &run));
  EXPECT_EQ(run.result.exit_status, 1) << run.console;
  const std::vector<std::string> got = lines(run.console);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0] + "\n", native_out) << "checksum of the demand-paged region differs from native";

  // #PF error code bits. APM vol 2, 8.4.2 Figure 8-8: P (bit 0) = protection violation rather
  // than not-present, W/R (bit 1) = write, U/S (bit 2) = CPL 3 (always 0: the guest runs at
  // CPL 0), I/D (bit 4) = instruction fetch (defined because EFER.NXE = 1).
  // U/S is therefore 0 in every expected code below.
  constexpr uint64_t kP = 1, kW = 2, kId = 0x10;
  constexpr uint64_t kRegion = 0x8000000000;  // PML4 index 1, see pagefault.c
  struct Expected {
    uint64_t cr2;
    uint64_t err;
    bool fetch;
  };
  const Expected expected[] = {
      {kRegion + 100, 0, false},        // read, not present -> mapped read-only
      {kRegion + 200, kP | kW, false},  // write to the read-only page (CR0.WP = 1)
      {kRegion + 0x1000, kW, false},    // writes, not present
      {kRegion + 0x2000, kW, false},      {kRegion + 0x3000, kW, false},
      {kRegion + 0x4000, kW, false},      {kRegion + 0x5000, kW, false},
      {kRegion + 0x6010, kId, true},       // fetch, not present -> mapped NX
      {kRegion + 0x6010, kP | kId, true},  // fetch from an NX page -> NX cleared
      {kRegion + 0x7008, 0, false},        // read, not present; second read does not fault
      {kRegion + 0x7009, kP | kW, false},  // write to the read-only page
  };
  ASSERT_EQ(got.size(), 1 + std::size(expected)) << run.console;
  for (size_t i = 0; i < std::size(expected); ++i) {
    const Expected& e = expected[i];
    const std::string want =
        "pf cr2=" + hex16(e.cr2) + " err=" + hex16(e.err) + (e.fetch ? " rip=cr2" : "");
    EXPECT_EQ(got[1 + i], want) << "fault " << i << ": expected error code " << e.err << " at cr2 "
                                << hex16(e.cr2);
  }
}

// ---- Exceptions and interrupts: vectors, error codes, saved RIPs, frames. ----

TEST(InterruptsGuest, DeliversEachVectorWithTheArchitecturalFrame) {
  GuestRun run;
  ASSERT_TRUE(run_guest("interrupts.elf", &run));
  EXPECT_EQ(run.result.exit_status, 1) << run.console;
  // Faults save the RIP of the faulting instruction, traps (INT3, INT n) the next one (APM vol 2,
  // 8.2); #DE #UD #BP and INT n push no error code, #GP pushes 0 for WRMSR to an unknown MSR and
  // for a non-canonical data address (APM vol 2, 8.2.14; vol 3, WRMSR). The frame holds SS, RSP,
  // RFLAGS, CS, RIP as they were (SS = the flat data selector 0x10, CS = 0x08) and is pushed
  // below RSP aligned down to 16 (`stack-40`: RIP at aligned RSP - 0x28; RSP was 8 mod 16 before
  // INT 0x80), or below the IST1 top for #BP, whose gate names IST1 (APM vol 2, 8.9.3, 8.9.4).
  const std::vector<std::string> expected = {
      "de vec=0x0 err=none rip=at+0 cs=0x8 ss=0x10 rflags=same rsp=same frame=stack-40",
      "ud vec=0x6 err=none rip=at+0 cs=0x8 ss=0x10 rflags=same rsp=same frame=stack-40",
      "bp vec=0x3 err=none rip=at+1 cs=0x8 ss=0x10 rflags=same rsp=same frame=ist1-40",
      "int80 vec=0x80 err=none rip=at+2 cs=0x8 ss=0x10 rflags=same rsp=same frame=stack-40",
      "wrmsr vec=0xd err=0x0 rip=at+0 cs=0x8 ss=0x10 rflags=same rsp=same frame=stack-40",
      "noncanon vec=0xd err=0x0 rip=at+0 cs=0x8 ss=0x10 rflags=same rsp=same frame=stack-40",
      "ss now 0x10 deliveries 6",
  };
  const std::vector<std::string> got = lines(run.console);
  ASSERT_EQ(got.size(), expected.size()) << run.console;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got[i], expected[i]) << "delivery " << i;
  }
}

// Same image, same instructions and cycles: the kernel-level guests are deterministic too.
TEST(Programs, KernelGuestsAreDeterministic) {
  for (const char* elf : {"pagefault.elf", "interrupts.elf"}) {
    GuestRun a, b;
    ASSERT_TRUE(run_guest(elf, &a));
    ASSERT_TRUE(run_guest(elf, &b));
    EXPECT_EQ(a.console, b.console) << elf;
    EXPECT_EQ(a.result.instructions, b.result.instructions) << elf;
    EXPECT_EQ(a.result.cycles, b.result.cycles) << elf;
  }
}

}  // namespace
}  // namespace snpemu
