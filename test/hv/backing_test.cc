// Tests of the backing pools and guest_memfd life cycle. Rules from Linux
// virt/kvm/guest_memfd.c: kvm_gmem_get_pfn (allocate a zeroed page on first fault, prepare it:
// kvm_arch_gmem_prepare), kvm_gmem_punch_hole / kvm_gmem_free_folio (free the page:
// kvm_arch_gmem_invalidate), kvm_gmem_fallocate (argument checks); and the VMM's discard of
// the old backing on conversion (QEMU kvm_convert_memory, UNCONFIRMED).
#include <gtest/gtest.h>

#include <set>

#include "emu/hv/hv.h"
#include "emu/vmm/vmm.h"
#include "test/hv/fixture.h"

namespace snpemu::hv::test {
namespace {

FaultOutcome fault(Vm& vm, uint64_t gpa, bool is_private, bool write = true) {
  return vm.faultin({.gpa = Gpa{gpa}, .is_private = is_private, .write = write, .exec = false});
}

TEST(PagePool, DeterministicLowestFirstReuseAndZeroing) {
  auto memory = std::move(*Memory::create(kHostBytes));
  auto pool = PagePool::create(*memory, Pfn{0x100}, 4, "p");
  ASSERT_TRUE(pool.has_value());
  EXPECT_EQ(pool->allocate(), Pfn{0x100});
  EXPECT_EQ(pool->allocate(), Pfn{0x101});
  EXPECT_EQ(pool->allocate(), Pfn{0x102});
  ASSERT_TRUE(memory->fill(hpa_of(Pfn{0x101}), kPageSize, 0xEE).has_value());
  EXPECT_TRUE(pool->free(Pfn{0x101}));
  EXPECT_EQ(*memory->read8(Hpa{hpa_of(Pfn{0x101}).value + 77}), 0) << "freed page is zeroed";
  EXPECT_FALSE(pool->free(Pfn{0x101})) << "double free is refused";
  EXPECT_FALSE(pool->free(Pfn{0x103})) << "never-allocated page is refused";
  EXPECT_FALSE(pool->free(Pfn{0x200})) << "foreign page is refused";
  EXPECT_TRUE(pool->free(Pfn{0x100}));
  EXPECT_EQ(pool->allocate(), Pfn{0x100}) << "lowest freed page first";
  EXPECT_EQ(pool->allocate(), Pfn{0x101});
  EXPECT_EQ(pool->allocate(), Pfn{0x103});
  EXPECT_EQ(pool->allocate(), std::nullopt) << "exhausted";
  EXPECT_EQ(pool->in_use(), 4u);
  EXPECT_FALSE(PagePool::create(*memory, Pfn{(kHostBytes >> kPageShift) - 1}, 2, "x"))
      << "pool beyond RAM must be refused";
}

TEST(Vm, CreateRejectsBadPools) {
  auto memory = std::move(*Memory::create(kHostBytes));
  VmConfig overlap{.type = VmType::kSnp, .shared_pool_first = Pfn{0x100},
                   .shared_pool_pages = 0x100, .private_pool_first = Pfn{0x180},
                   .private_pool_pages = 0x100, .hooks = nullptr};
  EXPECT_EQ(Vm::create(*memory, overlap).error().code, KvmErrno::kEinval);
  VmConfig no_private{.type = VmType::kSevEs, .shared_pool_first = Pfn{0x100},
                      .shared_pool_pages = 0x100, .private_pool_first = Pfn{0x300},
                      .private_pool_pages = 0x100, .hooks = nullptr};
  EXPECT_EQ(Vm::create(*memory, no_private).error().code, KvmErrno::kEinval);
}

// kvm_gmem_get_pfn: first private fault allocates from the private pool and prepares once;
// later faults map the same page without preparing again.
TEST(GuestMemfd, PrepareExactlyOncePerBackingPage) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x10000, 0x7000'0000);
  ASSERT_TRUE(f.set_private(0x100000, 0x10000, true).has_value());
  std::set<uint64_t> pfns;
  for (int round = 0; round < 3; ++round) {
    for (uint64_t gpa = 0x100000; gpa < 0x110000; gpa += 0x1000) {
      FaultOutcome out = fault(*f.vm, gpa + 0x123, true, round == 1);
      ASSERT_EQ(out.kind, FaultOutcome::Kind::kMap) << "gpa " << gpa << ": " << out.why;
      EXPECT_TRUE(out.private_backing);
      EXPECT_TRUE(f.vm->private_pool().owns(out.pfn)) << "expected a private-pool pfn at gpa "
                                                      << gpa << ", got " << out.pfn.value;
      EXPECT_EQ(out.prepared_now, round == 0) << "gpa " << gpa << " round " << round;
      pfns.insert(out.pfn.value);
    }
  }
  EXPECT_EQ(pfns.size(), 16u);
  ASSERT_EQ(f.hooks.prepares.size(), 16u) << "gmem_prepare must run once per backing page";
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(f.hooks.prepares[i].gfn, Gfn{0x100 + i});
    EXPECT_EQ(f.hooks.prepares[i].order, 0u);
    EXPECT_EQ(f.vm->private_backing(Gfn{0x100 + i}), f.hooks.prepares[i].pfn);
  }
  EXPECT_TRUE(f.hooks.invalidates.empty());
  EXPECT_EQ(f.vm->private_pool().in_use(), 16u);
  EXPECT_EQ(f.vm->shared_pool().in_use(), 0u) << "private faults must not touch the shared pool";
}

// kvm_gmem_punch_hole -> kvm_gmem_free_folio: invalidate once per freed page, then the page
// returns to the pool; holes with no pages free nothing.
TEST(GuestMemfd, PunchHoleInvalidatesExactlyOncePerPage) {
  VmFixture f(VmType::kSnp);
  const uint32_t fd = f.add_gmem_slot(0, 0x100000, 0x8000, 0x7000'0000);
  ASSERT_TRUE(f.set_private(0x100000, 0x8000, true).has_value());
  for (uint64_t gpa = 0x100000; gpa < 0x106000; gpa += 0x1000) fault(*f.vm, gpa, true);
  const uint64_t seq = f.vm->mmu_invalidate_seq();
  auto freed = f.vm->gmem_punch_hole(fd, 0x2000, 0x6000);  // pages 2..7, only 2..5 backed
  ASSERT_TRUE(freed.has_value()) << freed.error().describe();
  EXPECT_EQ(*freed, 4u);
  EXPECT_GT(f.vm->mmu_invalidate_seq(), seq) << "punching a bound range zaps";
  ASSERT_EQ(f.hooks.invalidates.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(f.hooks.invalidates[i].start, f.hooks.prepares[2 + i].pfn) << "page " << 2 + i;
    EXPECT_EQ(f.hooks.invalidates[i].end.value, f.hooks.prepares[2 + i].pfn.value + 1);
    EXPECT_FALSE(f.vm->private_pool().allocated(f.hooks.invalidates[i].start));
  }
  EXPECT_EQ(f.vm->private_backing(Gfn{0x102}), std::nullopt);
  EXPECT_TRUE(f.vm->private_backing(Gfn{0x101}).has_value());
  EXPECT_EQ(*f.vm->gmem_punch_hole(fd, 0x2000, 0x6000), 0u) << "second punch frees nothing";
  EXPECT_EQ(f.hooks.invalidates.size(), 4u);
  // Refault: a new page, prepared again (a new backing page).
  FaultOutcome again = fault(*f.vm, 0x102000, true);
  ASSERT_EQ(again.kind, FaultOutcome::Kind::kMap);
  EXPECT_TRUE(again.prepared_now);
  EXPECT_EQ(f.hooks.prepares.size(), 7u);
}

TEST(GuestMemfd, PunchHoleArgumentChecks) {
  VmFixture f(VmType::kSnp);
  const uint32_t fd = f.add_gmem_slot(0, 0x100000, 0x8000, 0x7000'0000);
  EXPECT_EQ(f.vm->gmem_punch_hole(fd + 7, 0, 0x1000).error().code, KvmErrno::kEbadf);
  EXPECT_EQ(f.vm->gmem_punch_hole(fd, 0x800, 0x1000).error().code, KvmErrno::kEinval);
  EXPECT_EQ(f.vm->gmem_punch_hole(fd, 0, 0x1800).error().code, KvmErrno::kEinval);
  EXPECT_EQ(f.vm->gmem_punch_hole(fd, 0, 0).error().code, KvmErrno::kEinval);
  EXPECT_EQ(f.vm->gmem_punch_hole(fd, uint64_t{1} << 63, 0x1000).error().code, KvmErrno::kEinval);
  EXPECT_EQ(f.vm->gmem_punch_hole(fd, 0x7FFF'FFFF'FFFF'F000, 0x2000).error().code,
            KvmErrno::kEfbig);
}

// A failing prepare (e.g. RMPUPDATE refused) exits with the error; the page stays allocated and
// is prepared by the next successful fault.
TEST(GuestMemfd, FailedPrepareExitsAndIsRetried) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x4000, 0x7000'0000);
  ASSERT_TRUE(f.set_private(0x100000, 0x4000, true).has_value());
  f.hooks.fail_prepare = true;
  FaultOutcome bad = fault(*f.vm, 0x101000, true);
  ASSERT_EQ(bad.kind, FaultOutcome::Kind::kMemoryFaultExit);
  EXPECT_EQ(bad.error, KvmErrno::kEio);
  EXPECT_EQ(bad.memory_fault, (KvmMemoryFault{kKvmMemoryExitFlagPrivate, 0x101000, 0x1000}));
  EXPECT_EQ(f.vm->private_pool().in_use(), 1u);
  f.hooks.fail_prepare = false;
  FaultOutcome good = fault(*f.vm, 0x101000, true);
  ASSERT_EQ(good.kind, FaultOutcome::Kind::kMap);
  EXPECT_TRUE(good.prepared_now);
  EXPECT_EQ(good.pfn, f.hooks.prepares[0].pfn) << "same backing page after the retry";
  EXPECT_EQ(f.hooks.prepares.size(), 2u);
}

TEST(GuestMemfd, PoolExhaustionIsAMemoryFaultExit) {
  auto memory = std::move(*Memory::create(kHostBytes));
  VmConfig cfg{.type = VmType::kSwProtected, .shared_pool_first = Pfn{0x100},
               .shared_pool_pages = 1, .private_pool_first = Pfn{0x200},
               .private_pool_pages = 2, .hooks = nullptr};
  auto vm = std::move(*Vm::create(*memory, cfg));
  auto fd = vm->create_guest_memfd({.size = 0x4000, .flags = 0});
  ASSERT_TRUE(vm->set_user_memory_region({.slot = 0, .flags = kKvmMemGuestMemfd,
                                          .guest_phys_addr = 0, .memory_size = 0x4000,
                                          .userspace_addr = 0x100000, .guest_memfd_offset = 0,
                                          .guest_memfd = *fd}));
  ASSERT_TRUE(vm->set_memory_attributes({.address = 0, .size = 0x2000 + 0x1000,
                                         .attributes = kKvmMemoryAttributePrivate, .flags = 0}));
  EXPECT_EQ(fault(*vm, 0x0000, true).kind, FaultOutcome::Kind::kMap);
  EXPECT_EQ(fault(*vm, 0x1000, true).kind, FaultOutcome::Kind::kMap);
  FaultOutcome out = fault(*vm, 0x2000, true);
  ASSERT_EQ(out.kind, FaultOutcome::Kind::kMemoryFaultExit);
  EXPECT_EQ(out.error, KvmErrno::kEnomem);
  EXPECT_EQ(fault(*vm, 0x3000, false).kind, FaultOutcome::Kind::kMap) << "one shared page left";
  FaultOutcome shared_out = vm->faultin({.gpa = Gpa{0x3000 + 0x100000}, .is_private = false,
                                         .write = false, .exec = false});
  EXPECT_EQ(shared_out.kind, FaultOutcome::Kind::kEmulateMmio) << "no slot there";
}

// The conversion round trip through the VMM model: shared -> private -> shared reads zeros, the
// old data is never visible through the new backing, and each old backing page is freed.
TEST(Conversion, SharedPrivateSharedReadsZeros) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x4000, 0x7000'0000);
  const uint64_t gpa = 0x102000;
  FaultOutcome s1 = fault(*f.vm, gpa, false);
  ASSERT_EQ(s1.kind, FaultOutcome::Kind::kMap);
  f.fill_page(s1.pfn, 0xA5);
  ASSERT_TRUE(f.page_is(*f.vm->shared_backing(Gfn{gpa >> 12}), 0xA5));

  auto to_private = vmm::convert_memory(*f.vm, gpa, 0x1000, true);
  ASSERT_TRUE(to_private.ok()) << to_private.message;
  EXPECT_EQ(to_private.shared_pages_discarded, 1u);
  EXPECT_EQ(f.vm->shared_backing(Gfn{gpa >> 12}), std::nullopt);
  EXPECT_TRUE(f.page_is(s1.pfn, 0x00)) << "discarded shared page must be zeroed";
  FaultOutcome p = fault(*f.vm, gpa, true);
  ASSERT_EQ(p.kind, FaultOutcome::Kind::kMap);
  EXPECT_TRUE(f.page_is(p.pfn, 0x00)) << "new private page must read zeros, not 0xA5";
  f.fill_page(p.pfn, 0x3C);

  auto to_shared = vmm::convert_memory(*f.vm, gpa, 0x1000, false);
  ASSERT_TRUE(to_shared.ok()) << to_shared.message;
  EXPECT_EQ(to_shared.private_pages_discarded, 1u);
  ASSERT_EQ(f.hooks.invalidates.size(), 1u);
  EXPECT_EQ(f.hooks.invalidates[0].start, p.pfn);
  EXPECT_EQ(f.vm->private_backing(Gfn{gpa >> 12}), std::nullopt);
  FaultOutcome s2 = fault(*f.vm, gpa, false);
  ASSERT_EQ(s2.kind, FaultOutcome::Kind::kMap);
  EXPECT_TRUE(f.page_is(s2.pfn, 0x00))
      << "expected zeros at gpa 0x102000 after shared->private->shared, got old data";
  EXPECT_EQ(f.hooks.prepares.size(), 1u);
  EXPECT_EQ(f.vm->private_pool().in_use(), 0u);
  EXPECT_EQ(f.vm->shared_pool().in_use(), 1u);
}

// Every page converted in a loop: prepare and invalidate counts match the pages backed.
TEST(Conversion, HookCountsOverManyRoundTrips) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x20000, 0x7000'0000);
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(vmm::convert_memory(*f.vm, 0x100000, 0x20000, true).ok());
    for (uint64_t gpa = 0x100000; gpa < 0x120000; gpa += 0x2000) fault(*f.vm, gpa, true);
    ASSERT_TRUE(vmm::convert_memory(*f.vm, 0x100000, 0x20000, false).ok());
    EXPECT_EQ(f.hooks.prepares.size(), 16u * (round + 1)) << "round " << round;
    EXPECT_EQ(f.hooks.invalidates.size(), 16u * (round + 1)) << "round " << round;
    EXPECT_EQ(f.vm->private_pool().in_use(), 0u) << "round " << round;
  }
}

// kvm_gmem_populate (SNP LAUNCH_UPDATE): private GFNs of guest_memfd slots only; a populated
// page is prepared by the populate callback, so its first fault skips gmem_prepare.
TEST(GuestMemfd, PopulateThenFaultSkipsPrepare) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x4000, 0x7000'0000);
  f.add_slot(1, 0x200000, 0x1000, 0x7100'0000);
  std::vector<std::pair<Gfn, Pfn>> calls;
  auto record = [&](Gfn g, Pfn p) -> KvmResult<void> {
    calls.emplace_back(g, p);
    return {};
  };
  EXPECT_EQ(f.vm->gmem_populate(Gfn{0x200}, record).error().code, KvmErrno::kEinval)
      << "slot without guest_memfd";
  EXPECT_EQ(f.vm->gmem_populate(Gfn{0x900}, record).error().code, KvmErrno::kEinval)
      << "no slot";
  EXPECT_EQ(f.vm->gmem_populate(Gfn{0x100}, record).error().code, KvmErrno::kEinval)
      << "shared GFN";
  EXPECT_TRUE(calls.empty());
  ASSERT_TRUE(f.set_private(0x100000, 0x4000, true).has_value());
  auto pfn = f.vm->gmem_populate(Gfn{0x101}, record);
  ASSERT_TRUE(pfn.has_value()) << pfn.error().describe();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, Gfn{0x101});
  EXPECT_EQ(calls[0].second, *pfn);
  FaultOutcome out = fault(*f.vm, 0x101000, true);
  ASSERT_EQ(out.kind, FaultOutcome::Kind::kMap);
  EXPECT_EQ(out.pfn, *pfn);
  EXPECT_FALSE(out.prepared_now);
  EXPECT_TRUE(f.hooks.prepares.empty()) << "a populated page must not be prepared again";
  // A failing populate callback leaves the page unprepared: the fault prepares it.
  auto refuse = [](Gfn, Pfn) -> KvmResult<void> {
    return std::unexpected(KvmError{KvmErrno::kEio, "firmware refused"});
  };
  EXPECT_EQ(f.vm->gmem_populate(Gfn{0x102}, refuse).error().code, KvmErrno::kEio);
  FaultOutcome later = fault(*f.vm, 0x102000, true);
  ASSERT_EQ(later.kind, FaultOutcome::Kind::kMap);
  EXPECT_TRUE(later.prepared_now);
  EXPECT_EQ(f.hooks.prepares.size(), 1u);
  EXPECT_TRUE(f.vm->check_invariants().has_value());
}

// A terabyte of guest memory: a few conversions and faults cost a handful of attribute nodes and
// only the pages actually touched (sparse backing, lazy guest_memfd allocation).
TEST(Conversion, TerabyteSlotStaysCheap) {
  VmFixture f(VmType::kSnp);
  const uint64_t tib = uint64_t{1} << 40;
  f.add_gmem_slot(0, 0, tib, 0x1000'0000'0000);
  ASSERT_TRUE(vmm::convert_memory(*f.vm, 0, tib, true).ok());
  ASSERT_TRUE(vmm::convert_memory(*f.vm, 0x200000, 0x200000, false).ok());
  ASSERT_TRUE(vmm::convert_memory(*f.vm, tib / 2, 0x1000, false).ok());
  EXPECT_EQ(f.vm->attributes().node_count(), 3u);
  for (uint64_t gpa : {uint64_t{0}, tib - 0x1000, tib / 4}) {
    EXPECT_EQ(fault(*f.vm, gpa, true).kind, FaultOutcome::Kind::kMap) << "gpa " << gpa;
  }
  EXPECT_EQ(fault(*f.vm, tib / 2, false).kind, FaultOutcome::Kind::kMap);
  EXPECT_EQ(f.vm->private_pool().in_use(), 3u);
  EXPECT_EQ(f.vm->shared_pool().in_use(), 1u);
  auto back = vmm::convert_memory(*f.vm, 0, tib, false);
  ASSERT_TRUE(back.ok()) << back.message;
  EXPECT_EQ(back.private_pages_discarded, 3u);
  EXPECT_EQ(f.vm->attributes().node_count(), 0u);
  EXPECT_TRUE(f.vm->check_invariants().has_value());
}

}  // namespace
}  // namespace snpemu::hv::test
