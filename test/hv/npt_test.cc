// NPT built on demand by the NPF handler, checked with mmu::nested_walk (the walker the core
// uses): mapped GPAs reach their backing with the right rights, unmapped and zapped GPAs fault
// with the exact NPF exit_info_1, invalidations zap and request a TLB flush.
#include <gtest/gtest.h>

#include "mmu/mmu.h"
#include "test/hv/exit_fixture.h"

namespace snpemu::hv::test {
namespace {

using mmu::AccessKind;

// The nested walk the core performs for a final GPA access.
std::expected<mmu::Translation, mmu::Fault> walk(ExitFixture& f, uint64_t gpa, AccessKind kind,
                                                 uint8_t c_bit = 0) {
  mmu::FlatTableAccess host(*f.memory);
  return mmu::nested_walk(host, mmu::NestedRegs{.nested_cr3 = f.npt->root().value},
                          mmu::PagingConfig{.c_bit = c_bit}, gpa, kind,
                          mmu::NestedStage::kGuestFinal);
}

// Feeds the fault the walker produced to the NPF handler, as the core's #VMEXIT would.
ExitOutcome npf_from_walk(ExitFixture& f, uint64_t gpa, AccessKind kind) {
  auto w = walk(f, gpa, kind);
  EXPECT_FALSE(w.has_value()) << "expected an NPF at gpa " << std::hex << gpa;
  if (w.has_value()) return ExitOutcome{};
  EXPECT_EQ(w.error().kind, mmu::Fault::Kind::kNestedPageFault);
  f.stage(svm::ExitCode::kNpf, w.error().error_code, w.error().address);
  return f.run_exit();
}

TEST(Npt, UnmappedGpaFaultsWithExactExitInfo) {
  ExitFixture f;
  // PLATFORM-FACTS 4.8: P=0, U=1 (nested accesses are user accesses), W for writes, FETCH for
  // fetches (host NXE on), GUEST_FINAL (bit 32) for the final GPA; exit_info_2 = the GPA.
  struct Case {
    AccessKind kind;
    uint64_t code;
  } cases[] = {
      {AccessKind::kRead, 0x1'0000'0004ull},
      {AccessKind::kWrite, 0x1'0000'0006ull},
      {AccessKind::kFetch, 0x1'0000'0014ull},
  };
  for (const Case& c : cases) {
    auto w = walk(f, 0x5123, c.kind);
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error().kind, mmu::Fault::Kind::kNestedPageFault);
    EXPECT_EQ(w.error().error_code, c.code) << "kind " << static_cast<int>(c.kind);
    EXPECT_EQ(w.error().address, 0x5123u);
  }
}

TEST(Npt, NpfMapsOnDemandAndTheWalkReachesTheBacking) {
  ExitFixture f;
  const uint64_t gpa = 0x7'3456;
  const ExitOutcome o = npf_from_walk(f, gpa, AccessKind::kWrite);
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kNpfMap) << exit_path_name(o.path);
  const Pfn backing = *f.vm->shared_backing(Gfn{gpa >> 12});
  for (AccessKind k : {AccessKind::kRead, AccessKind::kWrite, AccessKind::kFetch}) {
    auto t = walk(f, gpa, k);
    ASSERT_TRUE(t.has_value()) << "gpa 0x73456 kind " << static_cast<int>(k) << " faulted with "
                               << std::hex << t.error().error_code;
    EXPECT_EQ(t->pa, (backing.value << 12) | 0x456) << "expected backing HPA at gpa 0x73456";
    EXPECT_TRUE(t->writable);
    EXPECT_TRUE(t->user);
    EXPECT_TRUE(t->executable);
    EXPECT_FALSE(t->encrypted);
  }
  EXPECT_EQ(f.npt->mapped_pages(), 1u);
  EXPECT_EQ(f.npt->table_pages(), 4u) << "root + PDPT + PD + PT";
  // The neighbouring page is still unmapped.
  auto n = walk(f, gpa + 0x1000, AccessKind::kRead);
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().error_code, 0x1'0000'0004ull);
  // The same fault again finds the leaf already there.
  f.stage(svm::ExitCode::kNpf, 0x1'0000'0006ull, gpa);
  EXPECT_EQ(f.run_exit().path, ExitPath::kNpfSpurious);
}

TEST(Npt, ReadonlySlotMapsWithoutWriteAndAWriteFaultIsProtection) {
  ExitFixture f;
  auto r = f.vm->set_user_memory_region(KvmUserspaceMemoryRegion2{.slot = 1,
                                                                  .flags = kKvmMemReadonly,
                                                                  .guest_phys_addr = 0x2000'0000,
                                                                  .memory_size = 0x10000,
                                                                  .userspace_addr = 0x3000'0000});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(npf_from_walk(f, 0x2000'0010, AccessKind::kRead).path, ExitPath::kNpfMap);
  auto t = walk(f, 0x2000'0010, AccessKind::kRead);
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->writable);
  auto w = walk(f, 0x2000'0010, AccessKind::kWrite);
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().error_code, 0x1'0000'0007ull) << "P | W | U | GUEST_FINAL";
  // KVM emulates a write to a read-only slot as MMIO: not modelled, a clear internal error.
  f.stage(svm::ExitCode::kNpf, w.error().error_code, w.error().address);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kNpfMmio);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
  EXPECT_EQ(f.vcpu.run.internal.suberror, kKvmInternalErrorEmulation);
  EXPECT_EQ(f.vcpu.run.internal.data[0], 0x2000'0010u);
}

TEST(Npt, SlotDeleteZapsAndTheNextEntryFlushesTheAsid) {
  ExitFixture f;
  ASSERT_EQ(npf_from_walk(f, 0x9000, AccessKind::kRead).path, ExitPath::kNpfMap);
  prepare_vmrun(f.vmctx, f.vcpu, f.vmcb);
  EXPECT_EQ(f.vmcb.control.tlb_ctl, 3) << "first entry flushes once";
  f.vmcb.control.tlb_ctl = 0;
  prepare_vmrun(f.vmctx, f.vcpu, f.vmcb);
  EXPECT_EQ(f.vmcb.control.tlb_ctl, 0) << "nothing changed: no flush";

  auto del = f.vm->set_user_memory_region(KvmUserspaceMemoryRegion2{.slot = 0});
  ASSERT_TRUE(del.has_value()) << del.error().describe();
  EXPECT_EQ(f.npt->mapped_pages(), 0u);
  auto w = walk(f, 0x9000, AccessKind::kRead);
  ASSERT_FALSE(w.has_value()) << "a zapped GPA must fault";
  EXPECT_EQ(w.error().error_code, 0x1'0000'0004ull);
  prepare_vmrun(f.vmctx, f.vcpu, f.vmcb);
  EXPECT_EQ(f.vmcb.control.tlb_ctl, 3) << "TLB_CONTROL_FLUSH_ASID after a zap";
}

TEST(Npt, ConversionZapsAndRefaultsFromTheOtherBacking) {
  ExitFixture f(VmType::kSwProtected);
  const uint64_t gpa = 0x4'0000;
  ASSERT_EQ(npf_from_walk(f, gpa, AccessKind::kWrite).path, ExitPath::kNpfMap);
  const Pfn shared = *f.vm->shared_backing(Gfn{gpa >> 12});
  EXPECT_EQ(walk(f, gpa, AccessKind::kRead)->pa, shared.value << 12);

  auto conv = f.vm->set_memory_attributes(KvmMemoryAttributes{
      .address = gpa, .size = 0x2000, .attributes = kKvmMemoryAttributePrivate});
  ASSERT_TRUE(conv.has_value()) << conv.error().describe();
  auto w = walk(f, gpa, AccessKind::kRead);
  ASSERT_FALSE(w.has_value()) << "conversion must zap gpa 0x40000";
  EXPECT_EQ(w.error().error_code, 0x1'0000'0004ull);

  ASSERT_EQ(npf_from_walk(f, gpa, AccessKind::kRead).path, ExitPath::kNpfMap);
  const Pfn priv = *f.vm->private_backing(Gfn{gpa >> 12});
  EXPECT_TRUE(f.vm->private_pool().owns(priv));
  auto t = walk(f, gpa, AccessKind::kRead);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, priv.value << 12) << "expected the guest_memfd page after conversion";
  EXPECT_FALSE(t->encrypted) << "SW-protected VMs have no memory encryption";
}

TEST(Npt, PunchHoleAndSharedDiscardZapOnlyTheirGfns) {
  ExitFixture f(VmType::kSwProtected);
  ASSERT_TRUE(
      f.vm
          ->set_memory_attributes(KvmMemoryAttributes{
              .address = 0x10'0000, .size = 0x2000, .attributes = kKvmMemoryAttributePrivate})
          .has_value());
  for (uint64_t gpa : {0x10'0000ull, 0x10'1000ull, 0x20'0000ull, 0x20'1000ull}) {
    ASSERT_EQ(npf_from_walk(f, gpa, AccessKind::kRead).path, ExitPath::kNpfMap) << gpa;
  }
  // fallocate(PUNCH_HOLE) of guest_memfd page 0x101 (GPA 0x101000): only that GFN is zapped.
  auto punched = f.vm->gmem_punch_hole(1, 0x10'1000, 0x1000);
  ASSERT_TRUE(punched.has_value()) << punched.error().describe();
  EXPECT_TRUE(f.npt->leaf(Gfn{0x100}).has_value());
  EXPECT_FALSE(f.npt->leaf(Gfn{0x101}).has_value()) << "punched GFN 0x101 must be zapped";
  // MADV_DONTNEED of the VMM page behind GPA 0x200000: only GFN 0x200 is zapped.
  EXPECT_EQ(f.vm->discard_shared(kSlotHva + 0x20'0000, 0x1000), 1u);
  EXPECT_FALSE(f.npt->leaf(Gfn{0x200}).has_value()) << "discarded GFN 0x200 must be zapped";
  EXPECT_TRUE(f.npt->leaf(Gfn{0x201}).has_value());
  EXPECT_EQ(f.npt->mapped_pages(), 2u);
}

TEST(Npt, PrivatePagesOfAnEncryptedVmCarryTheCBit) {
  ExitFixture f(VmType::kSnp);
  const uint64_t gpa = 0x6'0000;
  ASSERT_TRUE(f.vm
                  ->set_memory_attributes(KvmMemoryAttributes{
                      .address = gpa, .size = 0x1000, .attributes = kKvmMemoryAttributePrivate})
                  .has_value());
  ASSERT_EQ(npf_from_walk(f, gpa, AccessKind::kRead).path, ExitPath::kNpfMap);
  const uint64_t leaf = *f.npt->leaf(Gfn{gpa >> 12});
  EXPECT_NE(leaf & (uint64_t{1} << 51), 0u) << "C-bit 51 expected in leaf " << std::hex << leaf;
  auto t = walk(f, gpa, AccessKind::kRead, 51);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->encrypted);
  EXPECT_EQ(t->pa, f.vm->private_backing(Gfn{gpa >> 12})->value << 12) << "C-bit stripped";
  // A shared page of the same VM is mapped without it.
  ASSERT_EQ(npf_from_walk(f, gpa + 0x1000, AccessKind::kRead).path, ExitPath::kNpfMap);
  EXPECT_EQ(*f.npt->leaf(Gfn{(gpa >> 12) + 1}) & (uint64_t{1} << 51), 0u);
}

TEST(Npt, MismatchedPrivateAccessIsAMemoryFaultExit) {
  ExitFixture f(VmType::kSwProtected);
  f.vmctx.options.private_fault_source = PrivateFaultSource::kHardwareEncBit;
  const uint64_t gpa = 0x8'0000;
  ASSERT_TRUE(f.vm
                  ->set_memory_attributes(KvmMemoryAttributes{
                      .address = gpa, .size = 0x1000, .attributes = kKvmMemoryAttributePrivate})
                  .has_value());
  f.stage(svm::ExitCode::kNpf, 0x1'0000'0004ull, gpa + 0x10);  // shared (no ENC bit) access
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kNpfMemoryFault);
  ASSERT_TRUE(o.kvm_run_error.has_value());
  EXPECT_EQ(*o.kvm_run_error, KvmErrno::kEfault);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kMemoryFault);
  EXPECT_EQ(f.vcpu.run.memory_fault, (KvmMemoryFault{.flags = 0, .gpa = gpa, .size = 4096}));
}

TEST(Npt, MmioGpaIsAClearInternalError) {
  ExitFixture f;
  f.stage(svm::ExitCode::kNpf, 0x1'0000'0006ull, 0xFEE0'0030);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kNpfMmio);
  EXPECT_EQ(f.vcpu.run.internal.suberror, kKvmInternalErrorEmulation);
  EXPECT_EQ(f.vcpu.run.internal.data[0], 0xFEE0'0030u);
  EXPECT_NE(f.vcpu.run.message.find("not modelled"), std::string::npos) << f.vcpu.run.message;
}

TEST(Npt, GarbageNpfInputsGiveClearOutcomes) {
  ExitFixture f;
  // Synthetic bits from "hardware" are warned about and cleared; the fault still maps.
  f.stage(svm::ExitCode::kNpf, 0x3'0001'0000'0004ull, 0x3000);
  EXPECT_EQ(f.run_exit().path, ExitPath::kNpfMap);
  EXPECT_EQ(f.vm->synthetic_bit_warning().count, 1u);
  // A GPA with every bit set is in no memslot: the MMIO path, not a crash.
  f.stage(svm::ExitCode::kNpf, ~uint64_t{0}, ~uint64_t{0});
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
}

TEST(Npt, DirectMapLimitsAndZapAll) {
  ExitFixture f;
  EXPECT_EQ(f.npt->map(Gfn{uint64_t{1} << 36}, Pfn{0x1000}, {}).error().code, KvmErrno::kEinval)
      << "GPA beyond 48 bits";
  ASSERT_TRUE(f.npt->map(Gfn{0}, Pfn{0x1000}, {}).has_value());
  ASSERT_TRUE(
      f.npt
          ->map(Gfn{(uint64_t{1} << 36) - 1}, Pfn{0x1001}, {.writable = false, .executable = false})
          .has_value());
  const uint64_t top = *f.npt->leaf(Gfn{(uint64_t{1} << 36) - 1});
  EXPECT_EQ(top & 2, 0u) << "RW clear";
  EXPECT_NE(top & (uint64_t{1} << 63), 0u) << "NX set";
  EXPECT_EQ(f.npt->zap(GfnRange{Gfn{1}, Gfn{uint64_t{1} << 40}}), 1u)
      << "huge range zaps by what is mapped";
  EXPECT_TRUE(f.npt->leaf(Gfn{0}).has_value());
  const uint64_t before = f.host_pool->in_use();
  f.npt->zap_all();
  EXPECT_FALSE(f.npt->leaf(Gfn{0}).has_value());
  EXPECT_EQ(f.npt->table_pages(), 1u);
  EXPECT_EQ(f.host_pool->in_use(), before - 6) << "both 3-table chains freed, root kept";
}

TEST(Npt, TablePoolExhaustionIsEnomem) {
  ExitFixture f;
  auto tiny = PagePool::create(*f.memory, Pfn{0x3800}, 1, "tiny");
  ASSERT_TRUE(tiny.has_value());
  PagePool pool = std::move(*tiny);
  auto npt = Npt::create(*f.memory, pool, NptConfig{});
  ASSERT_TRUE(npt.has_value());
  auto r = npt->map(Gfn{5}, Pfn{0x1000}, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, KvmErrno::kEnomem);
  EXPECT_EQ(Npt::create(*f.memory, pool, NptConfig{}).error().code, KvmErrno::kEnomem);
  EXPECT_EQ(Npt::create(*f.memory, *f.host_pool, NptConfig{.c_bit = 12}).error().code,
            KvmErrno::kEinval);
}

}  // namespace
}  // namespace snpemu::hv::test
