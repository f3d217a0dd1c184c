// Malicious exits: seeded random exit codes, exit_info_1/2, next_rip, exit_int_info and guest
// registers fed to handle_exit and complete_userspace_exit. Every outcome must be a clear
// record (a known action, a set exit reason when exiting), never a crash, a hang or broken VM
// bookkeeping. The seed is printed in every failure message.
#include <gtest/gtest.h>

#include <random>

#include "test/hv/exit_fixture.h"

namespace snpemu::hv::test {
namespace {

constexpr uint64_t kSeed = 0x5EED'0E41'7F00'0001ull;
constexpr int kIterations = 20000;

uint64_t pick_code(std::mt19937_64& rng) {
  static constexpr uint64_t kCodes[] = {0x072,
                                        0x07C,
                                        0x07B,
                                        0x078,
                                        0x081,
                                        0x07F,
                                        0x400,
                                        0x060,
                                        0x061,
                                        0x064,
                                        0x046,
                                        0x051,
                                        0x052,
                                        0x080,
                                        0x089,
                                        0x06F,
                                        0x07A,
                                        0x086,
                                        0x08E,
                                        0x073,
                                        0x403,
                                        0x000,
                                        0x090,
                                        0xFFFF'FFFF'FFFF'FFFFull,
                                        0xFFFF'FFFF'FFFF'FFFEull};
  if (rng() % 8 == 0) return rng();
  return kCodes[rng() % std::size(kCodes)];
}

uint64_t pick_value(std::mt19937_64& rng) {
  switch (rng() % 5) {
    case 0:
      return 0;
    case 1:
      return rng() & 0xFFFF;
    case 2:
      return rng() & 0xFF'FFFF;  // inside the memslot
    case 3:
      return ~uint64_t{0} - (rng() & 0xFF);
    default:
      return rng();
  }
}

TEST(ExitFuzz, RandomExitsNeverCrashOrCorruptTheVm) {
  ExitFixture f(VmType::kSwProtected);
  f.vmctx.options.hypercall_exit_enabled = uint64_t{1} << kKvmHcMapGpaRange;
  f.map_guest(0x7000'0000, 0x30'0000);
  std::mt19937_64 rng(kSeed);
  int exits_to_vmm = 0;
  for (int i = 0; i < kIterations; ++i) {
    f.vmcb.control.exit_code = pick_code(rng);
    f.vmcb.control.exit_info_1 =
        rng() % 3 == 0 ? ((rng() & 0xFFFF) << 16) | (rng() & 0x3FD) : pick_value(rng);
    f.vmcb.control.exit_info_2 = pick_value(rng);
    f.vmcb.control.next_rip = pick_value(rng);
    f.vmcb.control.exit_int_info = rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : 0;
    f.vmcb.control.exit_int_info_err = static_cast<uint32_t>(rng());
    for (unsigned r : {kRbx, kRcx, kRdx, kRsi, kRdi}) f.vcpu.gprs.r[r] = pick_value(rng);
    f.vcpu.gprs.r[kRcx] = rng() % 2 ? (rng() & 0x1F) : pick_value(rng);
    f.vcpu.gprs.r[kRsi] = rng() % 2 ? 0x7000'0000 + (rng() & 0xFFF) : pick_value(rng);
    f.vmcb.save.rax = pick_value(rng);
    f.vmcb.save.rflags = 0x2 | (rng() % 2 ? (1u << 10) : 0);
    f.vmcb.save.cpl = static_cast<uint8_t>(rng() % 4 == 0 ? 3 : 0);
    const ExitOutcome o = f.run_exit(rng());
    ASSERT_TRUE(o.action == ExitAction::kResumeGuest || o.action == ExitAction::kExitToVmm)
        << "seed " << kSeed << " iteration " << i;
    ASSERT_LT(static_cast<int>(o.path), static_cast<int>(ExitPath::kCount))
        << "seed " << kSeed << " iteration " << i;
    if (o.action == ExitAction::kExitToVmm) {
      ++exits_to_vmm;
      ASSERT_NE(f.vcpu.run.exit_reason, KvmExitReason::kUnknown)
          << "seed " << kSeed << " iteration " << i << " exit code " << std::hex
          << f.vmcb.control.exit_code;
      ASSERT_FALSE(f.vcpu.run.message.empty()) << "seed " << kSeed << " iteration " << i;
      if (rng() % 2) {
        f.vcpu.run.hypercall.ret = rng();
        for (auto& b : f.vcpu.run.pio_data) b = static_cast<uint8_t>(rng());
        f.vcpu.run.io.count = static_cast<uint32_t>(rng());  // a VMM scribbling on the record
        (void)f.complete();
      }
    }
    if (i % 1000 == 0) {
      auto inv = f.vm->check_invariants();
      ASSERT_TRUE(inv.has_value())
          << "seed " << kSeed << " iteration " << i << ": " << inv.error().describe();
      prepare_vmrun(f.vmctx, f.vcpu, f.vmcb);
    }
    f.vcpu.run.exit_reason = KvmExitReason::kUnknown;
    f.vcpu.run.message.clear();
  }
  EXPECT_GT(exits_to_vmm, 0) << "seed " << kSeed;
  EXPECT_TRUE(f.vm->check_invariants().has_value());
}

}  // namespace
}  // namespace snpemu::hv::test
