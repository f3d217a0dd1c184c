// Tests of KVM_SET_USER_MEMORY_REGION2 semantics. Rules from Linux virt/kvm/kvm_main.c:
// kvm_vm_ioctl_set_memory_region (slot id), check_memory_region_flags (flags per VM type),
// kvm_set_memory_region (alignment, wrap, delete, modify, overlap -> EEXIST), and
// virt/kvm/guest_memfd.c kvm_gmem_create / kvm_gmem_bind.
#include <gtest/gtest.h>

#include "emu/hv/hv.h"
#include "test/hv/fixture.h"

namespace snpemu::hv::test {
namespace {

KvmUserspaceMemoryRegion2 region(uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                                 uint64_t hva, uint64_t gmem_offset = 0, uint32_t gmem = 0) {
  return KvmUserspaceMemoryRegion2{.slot = slot,
                                   .flags = flags,
                                   .guest_phys_addr = gpa,
                                   .memory_size = size,
                                   .userspace_addr = hva,
                                   .guest_memfd_offset = gmem_offset,
                                   .guest_memfd = gmem};
}

void expect_error(const KvmResult<MemslotChange>& r, KvmErrno code, const char* what) {
  ASSERT_FALSE(r.has_value()) << what << ": expected " << errno_name(code) << ", got success "
                              << memslot_change_name(*r);
  EXPECT_EQ(r.error().code, code) << what << ": " << r.error().describe();
}

// check_memory_region_flags: GUEST_MEMFD only with private memory; READONLY only without
// protected state and never with GUEST_MEMFD; LOG_DIRTY never with GUEST_MEMFD.
TEST(Memslots, FlagsAllowedPerVmType) {
  struct Row {
    VmType type;
    bool gmem_ok, readonly_ok;
  };
  for (Row row : {Row{VmType::kDefault, false, true}, Row{VmType::kSwProtected, true, true},
                  Row{VmType::kSev, false, true}, Row{VmType::kSevEs, false, false},
                  Row{VmType::kSnp, true, false}}) {
    VmFixture f(row.type);
    const char* name = vm_type_name(row.type);
    auto ro = f.vm->set_user_memory_region(region(0, kKvmMemReadonly, 0, 0x10000, 0x100000));
    EXPECT_EQ(ro.has_value(), row.readonly_ok) << name << " READONLY";
    auto fd = f.vm->create_guest_memfd({.size = 0x10000, .flags = 0});
    ASSERT_TRUE(fd.has_value());
    auto gm = f.vm->set_user_memory_region(
        region(1, kKvmMemGuestMemfd, 0x100000, 0x10000, 0x200000, 0, *fd));
    EXPECT_EQ(gm.has_value(), row.gmem_ok) << name << " GUEST_MEMFD";
    if (!gm) {
      EXPECT_EQ(gm.error().code, KvmErrno::kEinval) << name;
    }
    expect_error(f.vm->set_user_memory_region(region(2, kKvmMemGuestMemfd | kKvmMemReadonly,
                                                     0x200000, 0x10000, 0x300000, 0, *fd)),
                 KvmErrno::kEinval, "GUEST_MEMFD | READONLY");
    expect_error(f.vm->set_user_memory_region(region(2, kKvmMemGuestMemfd | kKvmMemLogDirtyPages,
                                                     0x200000, 0x10000, 0x300000, 0, *fd)),
                 KvmErrno::kEinval, "GUEST_MEMFD | LOG_DIRTY_PAGES");
    expect_error(f.vm->set_user_memory_region(region(2, 1u << 3, 0x200000, 0x1000, 0x300000)),
                 KvmErrno::kEinval, "unknown flag bit 3");
    EXPECT_TRUE(f.vm->set_user_memory_region(
                        region(3, kKvmMemLogDirtyPages, 0x400000, 0x1000, 0x500000))
                    .has_value())
        << name << " LOG_DIRTY_PAGES";
  }
}

// kvm_set_memory_region "general sanity checks".
TEST(Memslots, AlignmentWrapAndIdChecks) {
  VmFixture f(VmType::kSnp);
  auto& vm = *f.vm;
  expect_error(vm.set_user_memory_region(region(0, 0, 0, 0x1800, 0x100000)), KvmErrno::kEinval,
               "memory_size unaligned");
  expect_error(vm.set_user_memory_region(region(0, 0, 0x800, 0x1000, 0x100000)),
               KvmErrno::kEinval, "guest_phys_addr unaligned");
  expect_error(vm.set_user_memory_region(region(0, 0, 0, 0x1000, 0x100010)), KvmErrno::kEinval,
               "userspace_addr unaligned");
  expect_error(vm.set_user_memory_region(region(0, 0, 0, 0x2000, 0x7FFF'FFFF'F000)),
               KvmErrno::kEinval, "userspace range beyond TASK_SIZE_MAX");
  expect_error(vm.set_user_memory_region(region(0, 0, 0xFFFF'FFFF'FFFF'F000, 0x2000, 0x100000)),
               KvmErrno::kEinval, "guest_phys_addr + memory_size wraps");
  expect_error(vm.set_user_memory_region(region(kKvmUserMemSlots, 0, 0, 0x1000, 0x100000)),
               KvmErrno::kEinval, "slot id >= KVM_USER_MEM_SLOTS");
  expect_error(vm.set_user_memory_region(region(1u << 16, 0, 0, 0x1000, 0x100000)),
               KvmErrno::kEinval, "address space 1");
  expect_error(vm.set_user_memory_region(region(0, 0, 0, (kKvmMemMaxNrPages + 1) << kPageShift,
                                                0x100000)),
               KvmErrno::kEinval, "more than KVM_MEM_MAX_NR_PAGES");
  expect_error(vm.set_user_memory_region(region(0, 0, 0x0010'0000'0000'0000, 0x1000, 0x100000)),
               KvmErrno::kEinval, "beyond kvm_mmu_max_gfn");
  expect_error(vm.set_user_memory_region(region(5, 0, 0, 0, 0)), KvmErrno::kEinval,
               "delete of a slot that does not exist");
  EXPECT_EQ(vm.memslots().size(), 0u) << "no failed call may install a slot";
}

// kvm_set_memory_region: CREATE/MOVE overlapping another slot -> EEXIST; FLAGS_ONLY, MOVE,
// no-op and the immutable fields.
TEST(Memslots, OverlapCreateMoveModifyDelete) {
  VmFixture f(VmType::kDefault);
  auto& vm = *f.vm;
  ASSERT_TRUE(vm.set_user_memory_region(region(0, 0, 0x100000, 0x10000, 0x1000000)).has_value());
  expect_error(vm.set_user_memory_region(region(1, 0, 0x10F000, 0x2000, 0x2000000)),
               KvmErrno::kEexist, "overlap at the end");
  expect_error(vm.set_user_memory_region(region(1, 0, 0x0FF000, 0x2000, 0x2000000)),
               KvmErrno::kEexist, "overlap at the start");
  expect_error(vm.set_user_memory_region(region(1, 0, 0x0F0000, 0x40000, 0x2000000)),
               KvmErrno::kEexist, "covering overlap");
  auto adj = vm.set_user_memory_region(region(1, 0, 0x110000, 0x1000, 0x2000000));
  ASSERT_TRUE(adj.has_value()) << "adjacent slot must be accepted: " << adj.error().describe();
  EXPECT_EQ(*adj, MemslotChange::kCreate);

  EXPECT_EQ(*vm.set_user_memory_region(region(0, 0, 0x100000, 0x10000, 0x1000000)),
            MemslotChange::kNone);
  EXPECT_EQ(*vm.set_user_memory_region(region(0, kKvmMemLogDirtyPages, 0x100000, 0x10000,
                                              0x1000000)),
            MemslotChange::kFlagsOnly);
  expect_error(vm.set_user_memory_region(region(0, 0, 0x100000, 0x20000, 0x1000000)),
               KvmErrno::kEinval, "size change");
  expect_error(vm.set_user_memory_region(region(0, 0, 0x100000, 0x10000, 0x3000000)),
               KvmErrno::kEinval, "userspace_addr change");
  expect_error(vm.set_user_memory_region(region(0, kKvmMemReadonly, 0x100000, 0x10000,
                                                0x1000000)),
               KvmErrno::kEinval, "READONLY toggle");
  expect_error(vm.set_user_memory_region(region(0, 0, 0x108000, 0x10000, 0x1000000)),
               KvmErrno::kEexist, "move onto slot 1");
  const uint64_t seq = vm.mmu_invalidate_seq();
  EXPECT_EQ(*vm.set_user_memory_region(region(0, 0, 0x400000, 0x10000, 0x1000000)),
            MemslotChange::kMove);
  EXPECT_GT(vm.mmu_invalidate_seq(), seq) << "a move zaps";
  EXPECT_EQ(vm.memslots().find(Gfn{0x100}), nullptr);
  ASSERT_NE(vm.memslots().find(Gfn{0x40F}), nullptr);
  EXPECT_EQ(vm.memslots().find(Gfn{0x40F})->id, 0);
  EXPECT_EQ(vm.memslots().find(Gfn{0x410}), nullptr);
  EXPECT_EQ(*vm.set_user_memory_region(region(0, 0, 0, 0, 0)), MemslotChange::kDelete);
  EXPECT_EQ(vm.memslots().find(Gfn{0x400}), nullptr);
  EXPECT_EQ(vm.memslots().size(), 1u);
}

// A moved slot keeps its data: shared backing follows userspace_addr, not the GPA.
TEST(Memslots, SharedBackingFollowsUserspaceAddress) {
  VmFixture f(VmType::kDefault);
  f.add_slot(0, 0x100000, 0x4000, 0x7000'0000);
  auto out = f.vm->faultin({.gpa = Gpa{0x101000}, .is_private = false, .write = true, .exec = false});
  ASSERT_EQ(out.kind, FaultOutcome::Kind::kMap);
  f.fill_page(out.pfn, 0x5A);
  ASSERT_TRUE(f.vm->set_user_memory_region(region(0, 0, 0x900000, 0x4000, 0x7000'0000)));
  auto moved = f.vm->faultin({.gpa = Gpa{0x901000}, .is_private = false, .write = false, .exec = false});
  ASSERT_EQ(moved.kind, FaultOutcome::Kind::kMap);
  EXPECT_EQ(moved.pfn, out.pfn) << "expected the same backing page at gpa 0x901000";
  EXPECT_TRUE(f.page_is(moved.pfn, 0x5A));
}

// kvm_gmem_create and kvm_gmem_bind.
TEST(Memslots, GuestMemfdCreateAndBind) {
  VmFixture f(VmType::kSnp);
  auto& vm = *f.vm;
  EXPECT_EQ(vm.create_guest_memfd({.size = 0, .flags = 0}).error().code, KvmErrno::kEinval);
  EXPECT_EQ(vm.create_guest_memfd({.size = 0x1800, .flags = 0}).error().code, KvmErrno::kEinval);
  EXPECT_EQ(vm.create_guest_memfd({.size = 0x1000, .flags = 1}).error().code, KvmErrno::kEinval);
  auto fd = vm.create_guest_memfd({.size = 0x8000, .flags = 0});
  ASSERT_TRUE(fd.has_value());

  expect_error(vm.set_user_memory_region(
                   region(0, kKvmMemGuestMemfd, 0x100000, 0x4000, 0x1000000, 0, 99)),
               KvmErrno::kEbadf, "unknown guest_memfd");
  expect_error(vm.set_user_memory_region(
                   region(0, kKvmMemGuestMemfd, 0x100000, 0x4000, 0x1000000, 0x800, *fd)),
               KvmErrno::kEinval, "unaligned guest_memfd_offset");
  expect_error(vm.set_user_memory_region(
                   region(0, kKvmMemGuestMemfd, 0x100000, 0x4000, 0x1000000, 0x5000, *fd)),
               KvmErrno::kEinval, "offset + size beyond the guest_memfd");
  expect_error(vm.set_user_memory_region(region(0, kKvmMemGuestMemfd, 0x100000, 0x4000,
                                                0x1000000, 0xFFFF'FFFF'FFFF'F000, *fd)),
               KvmErrno::kEinval, "offset + size wraps");
  ASSERT_TRUE(vm.set_user_memory_region(
      region(0, kKvmMemGuestMemfd, 0x100000, 0x4000, 0x1000000, 0x2000, *fd)));
  ASSERT_NE(vm.memslots().by_id(0), nullptr);
  ASSERT_TRUE(vm.memslots().by_id(0)->gmem.has_value());
  EXPECT_EQ(vm.memslots().by_id(0)->gmem->pgoff, 2u);
  EXPECT_EQ(vm.guest_memfd(*fd)->binding(3), std::optional<uint16_t>(0));
  EXPECT_EQ(vm.guest_memfd(*fd)->binding(1), std::nullopt);
  expect_error(vm.set_user_memory_region(
                   region(1, kKvmMemGuestMemfd, 0x200000, 0x2000, 0x2000000, 0x4000, *fd)),
               KvmErrno::kEinval, "guest_memfd pages already bound");
  ASSERT_TRUE(vm.set_user_memory_region(
      region(1, kKvmMemGuestMemfd, 0x200000, 0x2000, 0x2000000, 0, *fd)))
      << "the unbound head of the file may be bound by another slot";

  // Private memslots are immutable: only delete.
  expect_error(vm.set_user_memory_region(
                   region(0, kKvmMemGuestMemfd, 0x300000, 0x4000, 0x1000000, 0x2000, *fd)),
               KvmErrno::kEinval, "move of a guest_memfd slot");
  expect_error(vm.set_user_memory_region(region(0, 0, 0x100000, 0x4000, 0x1000000)),
               KvmErrno::kEinval, "dropping GUEST_MEMFD from a slot (UNCONFIRMED rule)");
  EXPECT_EQ(*vm.set_user_memory_region(region(0, 0, 0, 0, 0)), MemslotChange::kDelete);
  EXPECT_EQ(vm.guest_memfd(*fd)->binding(3), std::nullopt) << "delete unbinds";
  EXPECT_TRUE(vm.set_user_memory_region(
      region(2, kKvmMemGuestMemfd, 0x500000, 0x4000, 0x1000000, 0x2000, *fd)))
      << "after the delete the pages can be bound again";
}

}  // namespace
}  // namespace snpemu::hv::test
