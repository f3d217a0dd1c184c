// Tests of the fault-side decision and KVM's synthetic error-code bits. Rules from Linux
// arch/x86/kvm/svm/svm.c npf_interception (WARN once and clear bits 48/49; SNP: ENC bit 34 ->
// PRIVATE_ACCESS), arch/x86/kvm/mmu/mmu.c kvm_mmu_page_fault (SW-protected: attributes ->
// PRIVATE_ACCESS unless RSVD), kvm_mmu_faultin_pfn (mismatch -> KVM_EXIT_MEMORY_FAULT),
// kvm_handle_noslot_fault, kvm_mmu_faultin_pfn_private, kvm_prepare_memory_fault_exit.
#include <gtest/gtest.h>

#include "emu/hv/hv.h"
#include "test/hv/fixture.h"

namespace snpemu::hv::test {
namespace {

using Kind = FaultOutcome::Kind;

TEST(NpfErrorCode, SyntheticBitsAreClearedAndReported) {
  for (PrivateFaultSource src : {PrivateFaultSource::kAttributes,
                                 PrivateFaultSource::kHardwareEncBit}) {
    const char* name = private_fault_source_name(src);
    NpfErrorCode a = npf_error_code(kPferrWrite | kPferrImplicitAccess, src, false);
    EXPECT_TRUE(a.had_synthetic_bits) << name;
    EXPECT_EQ(a.error_code, kPferrWrite) << name << ": bit 48 must be cleared";
    NpfErrorCode b = npf_error_code(kPferrPresent | kPferrPrivateAccess, src, false);
    EXPECT_TRUE(b.had_synthetic_bits) << name;
    EXPECT_EQ(b.error_code, kPferrPresent) << name << ": a hardware bit 49 must not survive";
    NpfErrorCode c = npf_error_code(kPferrGuestFinal | kPferrUser, src, false);
    EXPECT_FALSE(c.had_synthetic_bits) << name;
    EXPECT_EQ(c.error_code, kPferrGuestFinal | kPferrUser) << name;
    NpfErrorCode d = npf_error_code(~uint64_t{0}, src, false);
    EXPECT_TRUE(d.had_synthetic_bits);
    EXPECT_EQ(d.error_code & kPferrImplicitAccess, 0u) << name;
  }
}

TEST(NpfErrorCode, PrivateBitFollowsTheChosenSource) {
  using S = PrivateFaultSource;
  // Hardware source: ENC decides, attributes ignored.
  EXPECT_EQ(npf_error_code(kPferrEnc, S::kHardwareEncBit, false).error_code,
            kPferrEnc | kPferrPrivateAccess);
  EXPECT_EQ(npf_error_code(0, S::kHardwareEncBit, true).error_code, 0u);
  EXPECT_EQ(npf_error_code(kPferrEnc | kPferrPrivateAccess, S::kHardwareEncBit, false).error_code,
            kPferrEnc | kPferrPrivateAccess)
      << "hardware's bit 49 is cleared, then ENC sets it again";
  // Attribute source: the GFN's attribute decides, ENC ignored, RSVD (MMIO) faults never private.
  EXPECT_EQ(npf_error_code(0, S::kAttributes, true).error_code, kPferrPrivateAccess);
  EXPECT_EQ(npf_error_code(kPferrEnc, S::kAttributes, false).error_code, kPferrEnc);
  EXPECT_EQ(npf_error_code(kPferrRsvd, S::kAttributes, true).error_code, kPferrRsvd);
  EXPECT_EQ(npf_error_code(kPferrPrivateAccess, S::kAttributes, false).error_code, 0u);
}

// Every (attribute, access kind, ENC bit) for both sources on an SNP VM with a gmem slot.
class FaultMatrix : public ::testing::TestWithParam<PrivateFaultSource> {};

TEST_P(FaultMatrix, EveryAttributeAccessPair) {
  const PrivateFaultSource src = GetParam();
  for (bool attr_private : {false, true}) {
    for (uint64_t access : {uint64_t{0}, kPferrWrite, kPferrFetch}) {
      for (bool enc : {false, true}) {
        VmFixture f(VmType::kSnp);
        f.add_gmem_slot(0, 0x100000, 0x10000, 0x7000'0000);
        const uint64_t gpa = 0x104567;
        ASSERT_TRUE(f.set_private(0x104000, 0x1000, attr_private).has_value());
        const uint64_t ec = kPferrGuestFinal | access | (enc ? kPferrEnc : 0);
        NpfResult r = f.vm->handle_npf(ec, Gpa{gpa}, src);
        const bool is_private =
            src == PrivateFaultSource::kHardwareEncBit ? enc : attr_private;
        const std::string where = std::string(private_fault_source_name(src)) + " attr " +
                                  (attr_private ? "private" : "shared") + " access " +
                                  std::to_string(access) + " enc " + std::to_string(enc);
        EXPECT_EQ((r.error_code.error_code & kPferrPrivateAccess) != 0, is_private) << where;
        EXPECT_FALSE(r.warned_now) << where;
        if (is_private != attr_private) {
          ASSERT_EQ(r.outcome.kind, Kind::kMemoryFaultExit)
              << where << ": expected a memory-fault exit, got " << fault_kind_name(r.outcome.kind);
          EXPECT_EQ(r.outcome.error, KvmErrno::kEfault) << where;
          EXPECT_EQ(r.outcome.memory_fault,
                    (KvmMemoryFault{is_private ? kKvmMemoryExitFlagPrivate : 0, 0x104000, 0x1000}))
              << where;
          EXPECT_EQ(f.vm->private_pool().in_use() + f.vm->shared_pool().in_use(), 0u) << where;
          EXPECT_TRUE(f.hooks.prepares.empty()) << where;
        } else {
          ASSERT_EQ(r.outcome.kind, Kind::kMap) << where << ": " << r.outcome.why;
          EXPECT_EQ(r.outcome.private_backing, is_private) << where;
          const PagePool& pool = is_private ? f.vm->private_pool() : f.vm->shared_pool();
          EXPECT_TRUE(pool.owns(r.outcome.pfn))
              << where << ": expected a pfn from pool " << pool.name() << ", got "
              << r.outcome.pfn.value;
          EXPECT_TRUE(r.outcome.writable) << where;
          EXPECT_EQ(f.hooks.prepares.size(), is_private ? 1u : 0u) << where;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothSources, FaultMatrix,
                         ::testing::Values(PrivateFaultSource::kAttributes,
                                           PrivateFaultSource::kHardwareEncBit),
                         [](const ::testing::TestParamInfo<PrivateFaultSource>& p) {
                           return p.param == PrivateFaultSource::kAttributes ? "Attributes"
                                                                             : "HardwareEncBit";
                         });

// The synthetic-bit warning fires once per VM, counts every occurrence, and the fault proceeds.
TEST(HandleNpf, SyntheticBitsWarnOncePerVmAndContinue) {
  VmFixture a(VmType::kSnp), b(VmType::kSnp);
  a.add_gmem_slot(0, 0, 0x4000, 0x7000'0000);
  b.add_gmem_slot(0, 0, 0x4000, 0x7000'0000);
  NpfResult r1 = a.vm->handle_npf(kPferrWrite | kPferrPrivateAccess, Gpa{0x1000},
                                  PrivateFaultSource::kHardwareEncBit);
  EXPECT_TRUE(r1.warned_now);
  EXPECT_EQ(r1.outcome.kind, Kind::kMap) << "cleared bit 49: a shared access to a shared GFN";
  EXPECT_FALSE(r1.outcome.private_backing);
  NpfResult r2 = a.vm->handle_npf(kPferrImplicitAccess, Gpa{0x2000},
                                  PrivateFaultSource::kHardwareEncBit);
  EXPECT_FALSE(r2.warned_now) << "second occurrence must not warn again";
  EXPECT_EQ(a.vm->synthetic_bit_warning().count, 2u);
  NpfResult r3 = a.vm->handle_npf(kPferrWrite, Gpa{0x2000}, PrivateFaultSource::kHardwareEncBit);
  EXPECT_FALSE(r3.warned_now);
  EXPECT_EQ(a.vm->synthetic_bit_warning().count, 2u);
  NpfResult other = b.vm->handle_npf(kPferrPrivateAccess, Gpa{0x1000},
                                     PrivateFaultSource::kAttributes);
  EXPECT_TRUE(other.warned_now) << "another VM has its own warn-once state";
}

TEST(Faultin, NoSlotReadonlyAndNonGmemSlots) {
  VmFixture f(VmType::kSwProtected);
  f.add_slot(0, 0x100000, 0x4000, 0x7000'0000);                      // plain slot
  f.add_slot(1, 0x200000, 0x4000, 0x7100'0000, kKvmMemReadonly);     // read-only slot
  // No slot: shared -> MMIO, private (attributes private) -> memory-fault exit.
  FaultOutcome mmio = f.vm->faultin({.gpa = Gpa{0x900000}, .is_private = false, .write = true,
                                     .exec = false});
  EXPECT_EQ(mmio.kind, Kind::kEmulateMmio);
  EXPECT_EQ(mmio.mmio, FaultOutcome::MmioReason::kNoSlot);
  ASSERT_TRUE(f.set_private(0x900000, 0x1000, true).has_value())
      << "attributes do not need a memslot";
  FaultOutcome noslot = f.vm->faultin({.gpa = Gpa{0x900000}, .is_private = true, .write = false,
                                       .exec = false});
  ASSERT_EQ(noslot.kind, Kind::kMemoryFaultExit);
  EXPECT_EQ(noslot.memory_fault.flags, kKvmMemoryExitFlagPrivate);
  EXPECT_NE(noslot.why.find("kvm_handle_noslot_fault"), std::string::npos) << noslot.why;
  // Private GFN in a slot without guest_memfd.
  ASSERT_TRUE(f.set_private(0x101000, 0x1000, true).has_value());
  FaultOutcome nogmem = f.vm->faultin({.gpa = Gpa{0x101000}, .is_private = true, .write = false,
                                       .exec = false});
  ASSERT_EQ(nogmem.kind, Kind::kMemoryFaultExit);
  EXPECT_EQ(nogmem.memory_fault, (KvmMemoryFault{kKvmMemoryExitFlagPrivate, 0x101000, 0x1000}));
  EXPECT_NE(nogmem.why.find("kvm_mmu_faultin_pfn_private"), std::string::npos) << nogmem.why;
  // Read-only slot: reads map read-only, writes go to MMIO emulation.
  FaultOutcome ro = f.vm->faultin({.gpa = Gpa{0x201000}, .is_private = false, .write = false,
                                   .exec = true});
  ASSERT_EQ(ro.kind, Kind::kMap);
  EXPECT_FALSE(ro.writable);
  FaultOutcome row = f.vm->faultin({.gpa = Gpa{0x201000}, .is_private = false, .write = true,
                                    .exec = false});
  EXPECT_EQ(row.kind, Kind::kEmulateMmio);
  EXPECT_EQ(row.mmio, FaultOutcome::MmioReason::kReadonlyWrite);
  // A RSVD fault is KVM's MMIO-SPTE path.
  NpfResult rsvd = f.vm->handle_npf(kPferrRsvd | kPferrPresent, Gpa{0x100000},
                                    PrivateFaultSource::kAttributes);
  EXPECT_EQ(rsvd.outcome.kind, Kind::kEmulateMmio);
  EXPECT_EQ(rsvd.outcome.mmio, FaultOutcome::MmioReason::kReservedBit);
}

// SW-protected VMs: the attribute source never produces a mismatch; the VMM never sees an exit
// for a well-formed slot (the synthetic bit comes from the attributes themselves).
TEST(Faultin, SwProtectedAttributeSourceFollowsConversions) {
  VmFixture f(VmType::kSwProtected);
  f.add_gmem_slot(0, 0, 0x2000, 0x7000'0000);
  NpfResult s = f.vm->handle_npf(kPferrWrite, Gpa{0x1000}, PrivateFaultSource::kAttributes);
  ASSERT_EQ(s.outcome.kind, Kind::kMap);
  EXPECT_FALSE(s.outcome.private_backing);
  ASSERT_TRUE(f.set_private(0x1000, 0x1000, true).has_value());
  NpfResult p = f.vm->handle_npf(kPferrWrite, Gpa{0x1000}, PrivateFaultSource::kAttributes);
  ASSERT_EQ(p.outcome.kind, Kind::kMap);
  EXPECT_TRUE(p.outcome.private_backing);
  EXPECT_NE(p.outcome.pfn, s.outcome.pfn);
  EXPECT_EQ(f.hooks.prepares.size(), 1u) << "the hook runs for SW-protected VMs too (no-op there)";
}

}  // namespace
}  // namespace snpemu::hv::test
