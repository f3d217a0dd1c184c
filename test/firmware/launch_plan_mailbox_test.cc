// The VMM's launch plan driven through the firmware mailbox: for every test guest, the digest
// SNP_LAUNCH_UPDATE computes page by page equals what `snpemu measure` predicts (vmm::measure),
// for one vCPU and for several.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/hex.h"
#include "emu/vmm/launch_plan.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/test_util.h"
#include "test/util/runfiles.h"

namespace snpemu::fw::test {
namespace {

constexpr Hpa kGctx{0x10000};
constexpr Asid kAsid{1};
constexpr uint64_t kFirstPage = 0x400000;  // host pages for the guest, one per launched page

struct Case {
  std::string guest;
  uint32_t vcpus;
};

class LaunchPlanMailbox : public ::testing::TestWithParam<Case> {};

TEST_P(LaunchPlanMailbox, FirmwareDigestEqualsThePrediction) {
  const Case& c = GetParam();
  vmm::LaunchOptions options;
  options.vcpus = c.vcpus;
  auto plan = vmm::make_launch_plan(snpemu::test::read_runfile("test/guests/" + c.guest), options);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  auto predicted = vmm::measure(plan->ranges);
  ASSERT_TRUE(predicted.has_value()) << predicted.error().message;

  Host h = Host::make();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.start_guest(kGctx, kAsid, plan->policy), Status::kSuccess) << h.fw->last_error();
  uint64_t next = kFirstPage;
  for (const vmm::LaunchRange& r : plan->ranges) {
    for (uint64_t p = 0; p < r.pages; ++p) {
      const Hpa page{next};
      next += kPageSize;
      ASSERT_LT(next, kRmpBase) << "fixture RAM exhausted";
      if (!r.contents.empty()) {
        h.write(page, std::span<const uint8_t>(r.contents).subspan(p * kPageSize, kPageSize));
      }
      const Gpa gpa{r.gpa.value + p * kPageSize};
      ASSERT_EQ(h.make_pre_guest(page, kAsid, gpa), rmp::RmpRc::kSuccess) << r.what;
      ASSERT_EQ(h.launch_update(kGctx, page, r.type), Status::kSuccess)
          << r.what << " page " << p << " at gpa " << hex(gpa.value) << ": " << h.fw->last_error();
    }
  }
  const GuestContextInfo* g = h.fw->guest(kGctx);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(to_hex(g->digest.digest()), to_hex(*predicted))
      << c.guest << " with " << c.vcpus << " vCPUs";
  ASSERT_EQ(h.launch_finish(kGctx), Status::kSuccess) << h.fw->last_error();
  EXPECT_TRUE(h.fw->check_invariants().empty());
}

// Every vCPU's VMSA is launched at the same GPA (PLATFORM-FACTS 8.3); guest memory pages may
// still not share a GPA.
TEST(LaunchPlanMailboxRules, VmsaPagesShareTheirGpaNormalPagesMayNot) {
  Host h = Host::make();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess) << h.fw->last_error();
  const std::vector<uint8_t> page(kPageSize, 0x5A);
  for (uint64_t i = 0; i < 2; ++i) {
    const Hpa vmsa{kFirstPage + i * kPageSize};
    h.write(vmsa, page);
    ASSERT_EQ(h.make_pre_guest(vmsa, kAsid, kVmsaGpa), rmp::RmpRc::kSuccess);
    EXPECT_EQ(h.launch_update(kGctx, vmsa, PageType::kVmsa), Status::kSuccess)
        << "VMSA " << i << ": " << h.fw->last_error();
  }
  for (uint64_t i = 0; i < 2; ++i) {
    const Hpa normal{kFirstPage + (2 + i) * kPageSize};
    h.write(normal, page);
    ASSERT_EQ(h.make_pre_guest(normal, kAsid, Gpa{0x100000}), rmp::RmpRc::kSuccess);
    EXPECT_EQ(h.launch_update(kGctx, normal, PageType::kNormal),
              i == 0 ? Status::kSuccess : Status::kInvalidParam)
        << "normal page " << i << " at gpa 0x100000: " << h.fw->last_error();
  }
  EXPECT_EQ(h.fw->last_error(), "INVALID_PARAM: SNP_LAUNCH_UPDATE: page " +
                                    hex(kFirstPage + 3 * kPageSize) +
                                    " has GPA 0x100000, already launched");
}

INSTANTIATE_TEST_SUITE_P(Guests, LaunchPlanMailbox,
                         ::testing::Values(Case{"checksum.elf", 1}, Case{"checksum.elf", 4},
                                           Case{"sort.elf", 1}, Case{"interrupts.elf", 2},
                                           Case{"pagefault.elf", 1}, Case{"smc.elf", 1},
                                           Case{"interp.elf", 3}),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           std::string name = p.param.guest.substr(0, p.param.guest.find('.'));
                           return name + "_" + std::to_string(p.param.vcpus) + "vcpus";
                         });

}  // namespace
}  // namespace snpemu::fw::test
