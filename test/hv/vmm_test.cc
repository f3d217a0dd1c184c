// Tests of the VMM model's KVM_HC_MAP_GPA_RANGE and KVM_EXIT_MEMORY_FAULT handling. Argument
// rules from Linux arch/x86/kvm/x86.c __kvm_emulate_hypercall (gpa aligned, npages != 0, no GFN
// wrap) and uapi kvm_para.h KVM_MAP_GPA_RANGE_*; the conversion from QEMU kvm_convert_memory
// (UNCONFIRMED); implicit conversion from PLATFORM-FACTS 6.
#include <gtest/gtest.h>

#include "emu/hv/hv.h"
#include "emu/vmm/vmm.h"
#include "test/hv/fixture.h"

namespace snpemu::hv::test {
namespace {

using vmm::ConvertStatus;
using vmm::KvmRunHypercall;

KvmRunHypercall hc(uint64_t gpa, uint64_t npages, uint64_t attrs, uint64_t nr = kKvmHcMapGpaRange) {
  KvmRunHypercall run;
  run.nr = nr;
  run.args = {gpa, npages, attrs, 0, 0, 0};
  run.ret = 0x1234;  // must be overwritten
  run.flags = vmm::kKvmExitHypercallLongMode;
  return run;
}

struct BadCase {
  KvmRunHypercall run;
  ConvertStatus status;
  const char* what;
};

TEST(MapGpaRange, RejectsMalformedRequestsWithoutTouchingState) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x10000, 0x7000'0000);
  f.add_slot(1, 0x200000, 0x10000, 0x7100'0000);  // no guest_memfd
  const uint64_t enc = kKvmMapGpaRangeEncrypted;
  BadCase cases[] = {
      {hc(0x100000, 1, enc, 11), ConvertStatus::kNotMapGpaRange, "nr 11"},
      {hc(0x100800, 1, enc), ConvertStatus::kUnaligned, "gpa unaligned"},
      {hc(0x100000, 0, enc), ConvertStatus::kZeroPages, "npages 0"},
      {hc(0xFFFF'FFFF'FFFF'F000, 2, enc), ConvertStatus::kWrap, "gfn + npages wraps"},
      {hc(0x1000, uint64_t{1} << 60, enc), ConvertStatus::kWrap, "npages overflows the gpa"},
      {hc(0x100000, 1, uint64_t{1} << 8), ConvertStatus::kBadAttributes, "attr bit 8"},
      {hc(0x100000, 1, 2 << 4), ConvertStatus::kBadAttributes, "enc status 2"},
      {hc(0x100000, 1, 3), ConvertStatus::kBadAttributes, "page size 2M|1G"},
      {hc(0x100000, 1, 4), ConvertStatus::kBadAttributes, "page size bit 2"},
      {hc(0x0F0000, 0x11, enc), ConvertStatus::kOutsideMemslots, "starts below the slot"},
      {hc(0x10F000, 2, enc), ConvertStatus::kOutsideMemslots, "runs past the slot"},
      {hc(0x200000, 1, enc), ConvertStatus::kNoGuestMemfd, "private in a non-gmem slot"},
  };
  for (BadCase& c : cases) {
    auto r = vmm::handle_map_gpa_range(*f.vm, c.run);
    EXPECT_EQ(r.status, c.status) << c.what << ": got " << vmm::convert_status_name(r.status)
                                  << " (" << r.message << ")";
    EXPECT_NE(c.run.ret, 0u) << c.what << ": ret must be non-zero";
    EXPECT_EQ(c.run.ret, r.ret) << c.what;
    EXPECT_EQ(r.ret, ~uint64_t{22} + 1) << c.what << ": -EINVAL";
  }
  EXPECT_EQ(f.vm->attributes().node_count(), 0u) << "no rejected request may change attributes";
  EXPECT_EQ(f.vm->mmu_invalidate_seq(), 0u);
}

TEST(MapGpaRange, ConvertsBothWaysAndReportsSuccess) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x400000, 0x7000'0000);  // 4 MiB
  // The PSC MSR form: one page, private, 4K.
  KvmRunHypercall one = hc(0x101000, 1, kKvmMapGpaRangeEncrypted | kKvmMapGpaRangePageSz4K);
  auto r1 = vmm::handle_map_gpa_range(*f.vm, one);
  ASSERT_TRUE(r1.ok()) << r1.message;
  EXPECT_EQ(one.ret, 0u);
  EXPECT_TRUE(r1.attributes_changed);
  EXPECT_TRUE(f.vm->mem_is_private(Gfn{0x101}));
  EXPECT_FALSE(f.vm->mem_is_private(Gfn{0x102}));
  // A 2M-flagged range that is not 2M aligned (KVM's partial 2M PSC entry quirk) is accepted.
  KvmRunHypercall partial = hc(0x203000, 509, kKvmMapGpaRangeEncrypted | kKvmMapGpaRangePageSz2M);
  auto r2 = vmm::handle_map_gpa_range(*f.vm, partial);
  ASSERT_TRUE(r2.ok()) << r2.message;
  EXPECT_TRUE(f.vm->attributes().range_has(Gfn{0x203}, Gfn{0x400}, kKvmMemoryAttributePrivate,
                                           kKvmMemoryAttributePrivate));
  // Same request again: success, nothing changed.
  KvmRunHypercall again = hc(0x203000, 509, kKvmMapGpaRangeEncrypted | kKvmMapGpaRangePageSz2M);
  auto r3 = vmm::handle_map_gpa_range(*f.vm, again);
  ASSERT_TRUE(r3.ok());
  EXPECT_FALSE(r3.attributes_changed);
  // Back to shared with a 1G page-size flag (accepted; the size is advisory).
  KvmRunHypercall back = hc(0x200000, 512, kKvmMapGpaRangeDecrypted | kKvmMapGpaRangePageSz1G);
  auto r4 = vmm::handle_map_gpa_range(*f.vm, back);
  ASSERT_TRUE(r4.ok()) << r4.message;
  EXPECT_FALSE(f.vm->mem_is_private(Gfn{0x300}));
  EXPECT_EQ(f.vm->attributes().node_count(), 1u) << "only gfn 0x101 stays private";
}

// A VM type without private memory: to-private fails in KVM_SET_MEMORY_ATTRIBUTES (non-zero ret);
// to-shared succeeds.
TEST(MapGpaRange, VmWithoutPrivateMemoryFailsToPrivate) {
  VmFixture f(VmType::kSevEs);
  f.add_slot(0, 0x100000, 0x10000, 0x7000'0000);
  KvmRunHypercall shared = hc(0x100000, 4, kKvmMapGpaRangeDecrypted);
  EXPECT_TRUE(vmm::handle_map_gpa_range(*f.vm, shared).ok());
  EXPECT_EQ(shared.ret, 0u);
  // No slot has guest_memfd on a SEV-ES VM, so the VMM refuses before the ioctl.
  KvmRunHypercall priv = hc(0x100000, 4, kKvmMapGpaRangeEncrypted);
  auto r = vmm::handle_map_gpa_range(*f.vm, priv);
  EXPECT_EQ(r.status, ConvertStatus::kNoGuestMemfd);
  EXPECT_NE(priv.ret, 0u);
}

// Implicit conversion: a mismatching fault exits with KVM_EXIT_MEMORY_FAULT, the VMM converts
// the page named in the exit, and the retried fault maps from the right pool.
TEST(MemoryFault, ImplicitConversionThenRetrySucceeds) {
  for (PrivateFaultSource src : {PrivateFaultSource::kHardwareEncBit}) {
    VmFixture f(VmType::kSnp);
    f.add_gmem_slot(0, 0x100000, 0x10000, 0x7000'0000);
    // Guest makes a private (C-bit) access to a shared page.
    NpfResult first = f.vm->handle_npf(kPferrGuestFinal | kPferrEnc | kPferrWrite,
                                       Gpa{0x105008}, src);
    ASSERT_EQ(first.outcome.kind, FaultOutcome::Kind::kMemoryFaultExit);
    auto conv = vmm::handle_memory_fault(*f.vm, first.outcome.memory_fault);
    ASSERT_TRUE(conv.ok()) << conv.message;
    NpfResult retry = f.vm->handle_npf(kPferrGuestFinal | kPferrEnc | kPferrWrite,
                                       Gpa{0x105008}, src);
    ASSERT_EQ(retry.outcome.kind, FaultOutcome::Kind::kMap) << retry.outcome.why;
    EXPECT_TRUE(retry.outcome.private_backing);
    // And a shared access to it now converts it back, discarding the private page.
    NpfResult shared = f.vm->handle_npf(kPferrGuestFinal, Gpa{0x105008}, src);
    ASSERT_EQ(shared.outcome.kind, FaultOutcome::Kind::kMemoryFaultExit);
    EXPECT_EQ(shared.outcome.memory_fault.flags, 0u);
    auto back = vmm::handle_memory_fault(*f.vm, shared.outcome.memory_fault);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back.private_pages_discarded, 1u);
    EXPECT_EQ(f.hooks.invalidates.size(), 1u);
    EXPECT_EQ(f.vm->handle_npf(kPferrGuestFinal, Gpa{0x105008}, src).outcome.kind,
              FaultOutcome::Kind::kMap);
  }
}

// A range spanning two adjacent gmem slots converts in one request; discards hit both files.
TEST(Convert, RangeAcrossAdjacentSlots) {
  VmFixture f(VmType::kSnp);
  f.add_gmem_slot(0, 0x100000, 0x4000, 0x7000'0000);
  f.add_gmem_slot(1, 0x104000, 0x4000, 0x7100'0000);
  ASSERT_TRUE(vmm::convert_memory(*f.vm, 0x102000, 0x4000, true).ok());
  for (uint64_t gpa = 0x102000; gpa < 0x106000; gpa += 0x1000) {
    ASSERT_EQ(f.vm->faultin({.gpa = Gpa{gpa}, .is_private = true, .write = true, .exec = false})
                  .kind,
              FaultOutcome::Kind::kMap)
        << "gpa " << gpa;
  }
  auto back = vmm::convert_memory(*f.vm, 0x100000, 0x8000, false);
  ASSERT_TRUE(back.ok()) << back.message;
  EXPECT_EQ(back.private_pages_discarded, 4u);
  EXPECT_EQ(f.hooks.invalidates.size(), 4u);
  EXPECT_EQ(f.vm->private_pool().in_use(), 0u);
}

}  // namespace
}  // namespace snpemu::hv::test
