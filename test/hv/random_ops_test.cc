// Seeded random sequences of the VM's memory operations (conversions through the VMM, faults of
// both kinds, punch holes, slot deletes and re-creates) with Vm::check_invariants after every
// step: no backing page is lost or owned twice, and each backing page is prepared exactly once
// and invalidated exactly once when freed (guest_memfd.c kvm_gmem_get_pfn / kvm_gmem_free_folio).
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "emu/hv/hv.h"
#include "emu/vmm/vmm.h"
#include "test/hv/fixture.h"

namespace snpemu::hv::test {
namespace {

TEST(RandomOps, InvariantsHoldAndHooksBalance) {
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    std::mt19937_64 rng(seed);
    VmFixture f(VmType::kSnp);
    constexpr uint64_t kBase = 0x100000, kBytes = 0x40000;  // 64 pages
    const uint32_t fd = f.add_gmem_slot(0, kBase, kBytes, 0x7000'0000);
    std::map<uint64_t, int> live_prepared;  // pfn -> prepares minus invalidates
    for (int step = 0; step < 600; ++step) {
      const uint64_t page = rng() % 64, n = 1 + rng() % (64 - page);
      const uint64_t gpa = kBase + (page << kPageShift);
      switch (rng() % 5) {
        case 0:
        case 1: {
          auto r = vmm::convert_memory(*f.vm, gpa, n << kPageShift, rng() & 1);
          ASSERT_TRUE(r.ok()) << "seed " << seed << " step " << step << ": " << r.message;
          break;
        }
        case 2:
        case 3: {
          const bool priv = f.vm->mem_is_private(Gfn{gpa >> kPageShift});
          const bool ask = (rng() % 4 == 0) ? !priv : priv;  // sometimes a mismatch
          FaultOutcome out = f.vm->faultin(
              {.gpa = Gpa{gpa}, .is_private = ask, .write = true, .exec = false});
          ASSERT_EQ(out.kind == FaultOutcome::Kind::kMap, ask == priv)
              << "seed " << seed << " step " << step << " gpa " << gpa << ": " << out.why;
          break;
        }
        case 4: {
          auto r = f.vm->gmem_punch_hole(fd, page << kPageShift, n << kPageShift);
          ASSERT_TRUE(r.has_value()) << "seed " << seed << " step " << step;
          break;
        }
      }
      auto ok = f.vm->check_invariants();
      ASSERT_TRUE(ok.has_value()) << "seed " << seed << " step " << step << ": "
                                  << ok.error().describe();
    }
    // Balance: every invalidated pfn was prepared before; the still-backed pages are exactly
    // those prepared and not yet invalidated.
    for (const auto& p : f.hooks.prepares) ++live_prepared[p.pfn.value];
    for (const auto& i : f.hooks.invalidates) {
      ASSERT_EQ(i.end.value, i.start.value + 1);
      ASSERT_GT(live_prepared[i.start.value]--, 0) << "seed " << seed << ": invalidate of pfn "
                                                   << i.start.value << " never prepared";
    }
    uint64_t live = 0;
    for (const auto& [pfn, count] : live_prepared) {
      ASSERT_GE(count, 0);
      ASSERT_LE(count, 1) << "seed " << seed << ": pfn " << pfn << " prepared twice while live";
      live += count;
    }
    EXPECT_EQ(live, f.vm->private_pool().in_use()) << "seed " << seed;
  }
}

}  // namespace
}  // namespace snpemu::hv::test
