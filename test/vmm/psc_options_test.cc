// The PSC options end to end (hv::ExitOptions::psc_handling / rmp_update_timing through
// vmm::GuestRunOptions): the snp_psc_loop payload converts 64 pages shared <-> private with both
// PSC forms and touches them after every conversion, under each combination. The guest's view
// (console, termination) and the #VMEXITs must not depend on the options; the VMM exits must:
// with in-kernel handling no PSC range reaches the VMM.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "emu/vmm/runner.h"
#include "test/guests/psc_loop_config.h"
#include "test/util/runfiles.h"

namespace snpemu {
namespace {

using hv::PscHandling;
using hv::RmpUpdateTiming;
using test::PscLoopForm;

constexpr uint32_t kRounds = 4;

std::expected<vmm::GuestRunResult, std::string> run(PscHandling h, RmpUpdateTiming t,
                                                     PscLoopForm form, uint32_t rounds,
                                                     std::string& console_out, bool extra_private = false) {
  std::vector<uint8_t> elf = test::read_runfile("test/guests/snp_psc_loop.elf");
  if (!test::patch_psc_loop_config(elf, form, rounds, extra_private)) {
    return std::unexpected("no psc_loop_config in the ELF");
  }
  vmm::GuestRunOptions o;
  o.type = hv::VmType::kSnp;
  o.mem_bytes = uint64_t{64} << 20;
  o.max_cycles = 2'000'000'000;
  o.psc_handling = h;
  o.rmp_update_timing = t;
  std::ostringstream console;
  auto r = vmm::run_guest(elf, o, console);
  console_out = console.str();
  return r;
}

std::string label(PscHandling h, RmpUpdateTiming t) {
  return std::string(hv::psc_handling_name(h)) + "/" + hv::rmp_update_timing_name(t);
}

// The benchmark's direction split: one more shared -> private conversion after the rounds costs
// modelled cycles and one more PSC exit per page of the MSR form, and the guest still ends well.
TEST(PscOptions, AnExtraPrivateConversionIsOneMoreRangePerPage) {
  std::string c1, c2;
  auto plain = run(PscHandling::kVmm, RmpUpdateTiming::kLazy, PscLoopForm::kMsr, 2, c1);
  auto extra = run(PscHandling::kVmm, RmpUpdateTiming::kLazy, PscLoopForm::kMsr, 2, c2, true);
  ASSERT_TRUE(plain.has_value() && extra.has_value());
  ASSERT_EQ(extra->end, vmm::GuestRunResult::End::kTerminated) << c2;
  EXPECT_EQ(extra->reason_code, 0) << c2;
  EXPECT_EQ(extra->vmm_exits, plain->vmm_exits + test::kPscLoopPages) << "one MSR-form PSC exit per page";
  EXPECT_GT(extra->cycles, plain->cycles);
}

TEST(PscOptions, EveryCombinationRunsTheLoopWithTheSameGuestView) {
  const std::string expected =
      "snp_psc_loop: accept (msr) ok\n"
      "snp_psc_loop: shared (msr) ok\n"
      "snp_psc_loop: round 0 private (msr) ok\n"
      "snp_psc_loop: round 0 shared (msr) ok\n"
      "snp_psc_loop: round 1 private (ghcb) ok\n"
      "snp_psc_loop: round 1 shared (ghcb) ok\n"
      "snp_psc_loop: ok, 0x0000000000000004 rounds of 64 pages\n";
  uint64_t vmm_exits_kvm = 0, exits_kvm = 0, cycles_kvm = 0;
  for (PscHandling h : {PscHandling::kVmm, PscHandling::kInKernel}) {
    for (RmpUpdateTiming t : {RmpUpdateTiming::kLazy, RmpUpdateTiming::kEager}) {
      std::string console;
      auto r = run(h, t, PscLoopForm::kAlternate, kRounds, console);
      ASSERT_TRUE(r.has_value()) << label(h, t) << ": " << r.error() << "\nconsole:\n" << console;
      EXPECT_EQ(console, expected) << label(h, t);
      EXPECT_EQ(r->end, vmm::GuestRunResult::End::kTerminated) << label(h, t);
      EXPECT_EQ(r->reason_set, 0) << label(h, t) << " code " << int{r->reason_code};
      EXPECT_EQ(r->reason_code, 0) << label(h, t) << " set " << int{r->reason_set};
      if (h == PscHandling::kVmm && t == RmpUpdateTiming::kLazy) {
        vmm_exits_kvm = r->vmm_exits;
        exits_kvm = r->exits;
        cycles_kvm = r->cycles;
        continue;
      }
      // PSC ranges that exit to the VMM under KVM's handling: the GHCB page (1, MSR form), the
      // set-up's accept and first shared conversion (MSR form: 64 + 64), rounds 0 and 2 (MSR:
      // 2 x 64 each), rounds 1 and 3 (GHCB: one coalesced range per conversion, 2 each).
      constexpr uint64_t kPscRanges = 1 + 128 + 2 * 128 + 2 * 2;
      const uint64_t expect_vmm = h == PscHandling::kInKernel ? vmm_exits_kvm - kPscRanges : vmm_exits_kvm;
      EXPECT_EQ(r->vmm_exits, expect_vmm) << label(h, t) << " (KVM default: " << vmm_exits_kvm << ")";
      // #VMEXITs are the guest's own (VMGEXITs, nested page faults): no option changes them, since
      // eager preparation does not map pages and the VMM round trip is not a #VMEXIT.
      EXPECT_EQ(r->exits, exits_kvm) << label(h, t);
      if (h == PscHandling::kInKernel) {
        EXPECT_LT(r->cycles, cycles_kvm) << label(h, t) << ": no KVM_RUN return per range";
      }
    }
  }
}

TEST(PscOptions, SingleFormPayloadsRunUnderKvmAndInKernel) {
  for (PscLoopForm form : {PscLoopForm::kMsr, PscLoopForm::kGhcb}) {
    for (PscHandling h : {PscHandling::kVmm, PscHandling::kInKernel}) {
      std::string console;
      auto r = run(h, RmpUpdateTiming::kEager, form, 2, console);
      const std::string what = std::string(form == PscLoopForm::kMsr ? "msr" : "ghcb") + " " +
                               hv::psc_handling_name(h);
      ASSERT_TRUE(r.has_value()) << what << ": " << r.error() << "\nconsole:\n" << console;
      EXPECT_EQ(r->reason_set, 0) << what << " code " << int{r->reason_code};
      EXPECT_EQ(r->reason_code, 0) << what;
      const std::string tag = form == PscLoopForm::kMsr ? " (msr) ok\n" : " (ghcb) ok\n";
      EXPECT_NE(console.find("round 1 shared" + tag), std::string::npos) << what << ":\n" << console;
    }
  }
}

}  // namespace
}  // namespace snpemu
