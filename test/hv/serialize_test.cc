// Round trip of the VM memory state through base/serializer.h (STYLE rule 10), and rejection of
// truncated or inconsistent snapshots with the failing field named.
#include <gtest/gtest.h>

#include "emu/hv/hv.h"
#include "emu/vmm/vmm.h"
#include "test/hv/fixture.h"

namespace snpemu::hv::test {
namespace {

// A VM with slots, a partly backed guest_memfd, mixed attributes, shared pages and a warning.
void populate(VmFixture& f) {
  const uint32_t fd = f.add_gmem_slot(0, 0x100000, 0x20000, 0x7000'0000);
  f.add_slot(1, 0x400000, 0x8000, 0x7100'0000, kKvmMemLogDirtyPages);
  ASSERT_TRUE(vmm::convert_memory(*f.vm, 0x104000, 0x8000, true).ok());
  for (uint64_t gpa = 0x104000; gpa < 0x10C000; gpa += 0x2000) {
    f.vm->faultin({.gpa = Gpa{gpa}, .is_private = true, .write = true, .exec = false});
  }
  for (uint64_t gpa : {0x100000, 0x101000, 0x401000}) {
    auto out = f.vm->faultin({.gpa = Gpa{gpa}, .is_private = false, .write = true, .exec = false});
    ASSERT_EQ(out.kind, FaultOutcome::Kind::kMap);
  }
  ASSERT_TRUE(f.vm->gmem_punch_hole(fd, 0x6000, 0x2000).has_value());  // frees page 6
  f.vm->handle_npf(kPferrImplicitAccess, Gpa{0x100000}, PrivateFaultSource::kHardwareEncBit);
}

std::vector<uint8_t> save(Vm& vm) {
  Serializer w = Serializer::writer();
  vm.serialize(w);
  EXPECT_TRUE(w.ok());
  return w.bytes();
}

TEST(Serialize, RoundTripRestoresStateAndBehaviour) {
  VmFixture a(VmType::kSnp);
  populate(a);
  const std::vector<uint8_t> bytes = save(*a.vm);

  VmFixture b(VmType::kSnp);
  Serializer r = Serializer::reader(bytes);
  b.vm->serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(save(*b.vm), bytes) << "second save must be byte-identical";
  EXPECT_EQ(b.vm->attributes().runs(), a.vm->attributes().runs());
  EXPECT_EQ(b.vm->mmu_invalidate_seq(), a.vm->mmu_invalidate_seq());
  EXPECT_EQ(b.vm->synthetic_bit_warning().count, 1u);
  EXPECT_TRUE(b.vm->synthetic_bit_warning().warned);
  for (uint64_t g = 0x100; g < 0x120; ++g) {
    EXPECT_EQ(b.vm->private_backing(Gfn{g}), a.vm->private_backing(Gfn{g})) << "gfn " << g;
    EXPECT_EQ(b.vm->shared_backing(Gfn{g}), a.vm->shared_backing(Gfn{g})) << "gfn " << g;
  }
  // Both continue identically: the next private page comes from the same free-list slot, and
  // an already prepared page is not prepared again.
  auto fa = a.vm->faultin({.gpa = Gpa{0x105000}, .is_private = true, .write = true, .exec = false});
  auto fb = b.vm->faultin({.gpa = Gpa{0x105000}, .is_private = true, .write = true, .exec = false});
  ASSERT_EQ(fb.kind, FaultOutcome::Kind::kMap);
  EXPECT_EQ(fb.pfn, fa.pfn);
  EXPECT_EQ(fb.prepared_now, fa.prepared_now);
  auto pa = b.vm->faultin({.gpa = Gpa{0x104000}, .is_private = true, .write = true, .exec = false});
  EXPECT_FALSE(pa.prepared_now) << "restored prepared flag";
  EXPECT_TRUE(b.vm->check_invariants().has_value());
}

TEST(Serialize, RejectsTruncationTypeMismatchAndCorruption) {
  VmFixture a(VmType::kSnp);
  populate(a);
  const std::vector<uint8_t> bytes = save(*a.vm);
  for (size_t cut : {size_t{0}, size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    VmFixture b(VmType::kSnp);
    Serializer r = Serializer::reader(std::span<const uint8_t>(bytes.data(), cut));
    b.vm->serialize(r);
    EXPECT_FALSE(r.ok()) << "truncated at " << cut << " of " << bytes.size();
  }
  {
    VmFixture b(VmType::kSwProtected);
    Serializer r = Serializer::reader(bytes);
    b.vm->serialize(r);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().error().field, "vm.type");
  }
  {
    // The first gmem page's pfn (after type, count, size, flags, 1 binding, page count, index)
    // pointed outside the private pool: check_invariants rejects it.
    std::vector<uint8_t> bad = bytes;
    const size_t pfn_at = 1 + 8 + 8 + 8 + 8 + (8 + 8 + 2) + 8 + 8;
    bad[pfn_at + 5] ^= 0x40;
    VmFixture b(VmType::kSnp);
    Serializer r = Serializer::reader(bad);
    b.vm->serialize(r);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().error().field, "vm") << r.status().error().message();
  }
  {
    VmFixture b(VmType::kSnp);
    b.add_slot(3, 0x900000, 0x1000, 0x7500'0000);
    Serializer r = Serializer::reader(bytes);
    b.vm->serialize(r);
    EXPECT_FALSE(r.ok()) << "restore into a used Vm must be refused";
  }
}

TEST(Serialize, MemoryAttributesRejectsBadRuns) {
  MemoryAttributes a(kKvmMemoryAttributePrivate);
  a.set({Gfn{1}, Gfn{3}}, kKvmMemoryAttributePrivate);
  a.set({Gfn{5}, Gfn{9}}, kKvmMemoryAttributePrivate);
  Serializer w = Serializer::writer();
  a.serialize(w);
  MemoryAttributes b(kKvmMemoryAttributePrivate);
  Serializer r = Serializer::reader(w.bytes());
  b.serialize(r);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(b.runs(), a.runs());
  // Make the second run start inside the first: [1,3) then [2,9).
  std::vector<uint8_t> bad = w.bytes();
  bad[8 + 24] = 2;
  MemoryAttributes c(kKvmMemoryAttributePrivate);
  Serializer rc = Serializer::reader(bad);
  c.serialize(rc);
  ASSERT_FALSE(rc.ok());
  EXPECT_EQ(rc.status().error().field, "attributes.start");
  EXPECT_EQ(c.node_count(), 0u) << "a failed load leaves the store unchanged";
  // Unsupported attributes.
  MemoryAttributes none(0);
  Serializer rn = Serializer::reader(w.bytes());
  none.serialize(rn);
  EXPECT_FALSE(rn.ok());
}

}  // namespace
}  // namespace snpemu::hv::test
