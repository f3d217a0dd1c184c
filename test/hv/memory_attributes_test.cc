// Tests of KVM_SET_MEMORY_ATTRIBUTES semantics. Rules from Linux virt/kvm/kvm_main.c:
// kvm_vm_ioctl_set_mem_attributes (argument checks), kvm_vm_set_mem_attributes (no-op and
// all-or-nothing update), kvm_range_has_memory_attributes (range query),
// kvm_supported_mem_attributes (PRIVATE only for types with private memory).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "emu/hv/hv.h"
#include "test/hv/fixture.h"

namespace snpemu::hv::test {
namespace {

constexpr uint64_t P = kKvmMemoryAttributePrivate;

KvmMemoryAttributes attrs(uint64_t address, uint64_t size, uint64_t attributes, uint64_t flags = 0) {
  return KvmMemoryAttributes{.address = address, .size = size, .attributes = attributes,
                             .flags = flags};
}

void expect_einval(const KvmMemoryAttributes& a, uint64_t supported, const char* what) {
  auto r = check_memory_attributes(a, supported);
  ASSERT_FALSE(r.has_value()) << what << ": expected EINVAL for address " << a.address
                              << " size " << a.size;
  EXPECT_EQ(r.error().code, KvmErrno::kEinval) << what << ": " << r.error().describe();
  EXPECT_NE(r.error().message.find("kvm_vm_ioctl_set_mem_attributes"), std::string::npos);
}

// kvm_vm_ioctl_set_mem_attributes: each rejected argument shape.
TEST(CheckMemoryAttributes, RejectsEachMalformedArgument) {
  expect_einval(attrs(0x1000, 0x1000, P, 1), P, "flags != 0");
  expect_einval(attrs(0x1000, 0x1000, P, uint64_t{1} << 63), P, "flags bit 63");
  expect_einval(attrs(0x1000, 0x1000, 1), P, "attribute bit 0 (reserved RWX)");
  expect_einval(attrs(0x1000, 0x1000, 1 << 2), P, "attribute bit 2 (reserved RWX)");
  expect_einval(attrs(0x1000, 0x1000, 1 << 4), P, "attribute bit 4 (unknown)");
  expect_einval(attrs(0x1000, 0x1000, P | (1 << 5)), P, "PRIVATE plus unknown bit");
  expect_einval(attrs(0x1000, 0x1000, P), 0, "PRIVATE on a VM without private memory");
  expect_einval(attrs(0x1000, 0, P), P, "size 0");
  expect_einval(attrs(0xFFFF'FFFF'FFFF'F000, 0x1000, P), P, "address + size wraps to 0");
  expect_einval(attrs(0xFFFF'FFFF'FFFF'E000, 0x4000, P), P, "address + size wraps");
  expect_einval(attrs(0x1800, 0x1000, P), P, "address unaligned");
  expect_einval(attrs(0x1000, 0x1800, P), P, "size unaligned");
  expect_einval(attrs(0x1001, 0xFFF, P), P, "both unaligned");
}

TEST(CheckMemoryAttributes, AcceptsAlignedRangesAndComputesGfns) {
  auto r = check_memory_attributes(attrs(0x3000, 0x5000, P), P);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->start, Gfn{3});
  EXPECT_EQ(r->end, Gfn{8});
  // attributes 0 (shared) is always supported, even with no private memory.
  auto shared = check_memory_attributes(attrs(0, 0x1000, 0), 0);
  EXPECT_TRUE(shared.has_value());
  // The top page of the address space: end GFN is 2^52, no wrap.
  auto top = check_memory_attributes(attrs(0xFFFF'FFFF'FFFF'E000, 0x1000, P), P);
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->end, Gfn{0xFFFF'FFFF'FFFF'F});
}

TEST(MemoryAttributes, SetGetAndNoOp) {
  MemoryAttributes a(P);
  EXPECT_EQ(a.get(Gfn{5}), 0u);
  EXPECT_TRUE(a.set({Gfn{4}, Gfn{8}}, P));
  EXPECT_FALSE(a.set({Gfn{4}, Gfn{8}}, P)) << "range already private must be a no-op";
  EXPECT_FALSE(a.set({Gfn{5}, Gfn{7}}, P)) << "sub-range already private must be a no-op";
  EXPECT_FALSE(a.set({Gfn{10}, Gfn{20}}, 0)) << "range already shared must be a no-op";
  for (uint64_t g = 0; g < 12; ++g) {
    EXPECT_EQ(a.is_private(Gfn{g}), g >= 4 && g < 8) << "gfn " << g;
  }
  EXPECT_TRUE(a.set({Gfn{5}, Gfn{6}}, 0));
  EXPECT_EQ(a.runs(), (std::vector<AttributeRun>{{{Gfn{4}, Gfn{5}}, P}, {{Gfn{6}, Gfn{8}}, P}}));
  EXPECT_TRUE(a.set({Gfn{5}, Gfn{6}}, P));
  EXPECT_EQ(a.node_count(), 1u) << "re-privatising the hole must coalesce back to one run";
}

// kvm_range_has_memory_attributes: mask reduced to supported, attrs outside mask false,
// every GFN must match; empty gaps count as attributes 0.
TEST(MemoryAttributes, RangeHasMatchesKvmRangeQuery) {
  MemoryAttributes a(P);
  a.set({Gfn{10}, Gfn{20}}, P);
  a.set({Gfn{30}, Gfn{40}}, P);
  EXPECT_TRUE(a.range_has(Gfn{10}, Gfn{20}, P, P));
  EXPECT_TRUE(a.range_has(Gfn{12}, Gfn{13}, P, P));
  EXPECT_FALSE(a.range_has(Gfn{9}, Gfn{20}, P, P)) << "gfn 9 is shared";
  EXPECT_FALSE(a.range_has(Gfn{10}, Gfn{21}, P, P)) << "gfn 20 is shared";
  EXPECT_FALSE(a.range_has(Gfn{10}, Gfn{40}, P, P)) << "gap [20,30) is shared";
  EXPECT_TRUE(a.range_has(Gfn{20}, Gfn{30}, P, 0));
  EXPECT_FALSE(a.range_has(Gfn{19}, Gfn{30}, P, 0));
  EXPECT_TRUE(a.range_has(Gfn{0}, Gfn{10}, ~uint64_t{0}, 0));
  EXPECT_TRUE(a.range_has(Gfn{10}, Gfn{20}, ~uint64_t{0}, P)) << "mask reduced to supported";
  EXPECT_FALSE(a.range_has(Gfn{10}, Gfn{20}, P, P | 1)) << "attrs outside the mask";
  EXPECT_FALSE(a.range_has(Gfn{10}, Gfn{20}, 0, P)) << "attrs outside an empty mask";
  EXPECT_TRUE(a.range_has(Gfn{10}, Gfn{20}, 0, 0)) << "empty mask matches anything";
  EXPECT_TRUE(a.range_has(Gfn{15}, Gfn{15}, P, P)) << "empty range";
  MemoryAttributes none(0);  // VM without private memory: PRIVATE masked away
  EXPECT_FALSE(none.range_has(Gfn{0}, Gfn{1}, P, P));
  EXPECT_TRUE(none.range_has(Gfn{0}, Gfn{1}, P, 0));
}

// 1 TiB of guest memory with a few conversions costs a handful of nodes.
TEST(MemoryAttributes, LargeUniformRangesStaySmall) {
  MemoryAttributes a(P);
  const uint64_t tib_pages = (uint64_t{1} << 40) >> kPageShift;
  ASSERT_TRUE(a.set({Gfn{0}, Gfn{tib_pages}}, P));
  EXPECT_EQ(a.node_count(), 1u);
  a.set({Gfn{0x100}, Gfn{0x300}}, 0);
  a.set({Gfn{tib_pages / 2}, Gfn{tib_pages / 2 + 512}}, 0);
  a.set({Gfn{tib_pages - 1}, Gfn{tib_pages}}, 0);
  EXPECT_EQ(a.node_count(), 3u);
  EXPECT_TRUE(a.range_has(Gfn{0x300}, Gfn{tib_pages / 2}, P, P));
  EXPECT_FALSE(a.is_private(Gfn{tib_pages - 1}));
  a.set({Gfn{0}, Gfn{tib_pages}}, 0);
  EXPECT_EQ(a.node_count(), 0u) << "all shared is the empty map";
}

// Differential test against a naive per-GFN array: random set() calls, then every query.
TEST(MemoryAttributes, MatchesNaiveModelUnderRandomUpdates) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    std::mt19937_64 rng(seed);
    constexpr uint64_t kGfns = 256;
    MemoryAttributes a(P);
    std::vector<uint64_t> naive(kGfns, 0);
    for (int step = 0; step < 400; ++step) {
      const uint64_t s = rng() % kGfns, e = s + 1 + rng() % (kGfns - s);
      const uint64_t v = (rng() & 1) ? P : 0;
      bool naive_changed = false;
      for (uint64_t g = s; g < e; ++g) naive_changed |= naive[g] != v;
      EXPECT_EQ(a.set({Gfn{s}, Gfn{e}}, v), naive_changed)
          << "seed " << seed << " step " << step << " [" << s << "," << e << ")";
      for (uint64_t g = s; g < e; ++g) naive[g] = v;
      for (uint64_t g = 0; g < kGfns; ++g) {
        ASSERT_EQ(a.get(Gfn{g}), naive[g]) << "seed " << seed << " step " << step << " gfn " << g;
      }
      const uint64_t qs = rng() % kGfns, qe = qs + rng() % (kGfns - qs + 1);
      for (uint64_t want : {uint64_t{0}, P}) {
        bool expect = true;
        for (uint64_t g = qs; g < qe; ++g) expect &= naive[g] == want;
        ASSERT_EQ(a.range_has(Gfn{qs}, Gfn{qe}, P, want), expect)
            << "seed " << seed << " step " << step << " query [" << qs << "," << qe << ") = "
            << want;
      }
      // Invariant: runs are disjoint, sorted, non-empty, coalesced, non-zero.
      auto runs = a.runs();
      for (size_t i = 0; i < runs.size(); ++i) {
        ASSERT_LT(runs[i].range.start.value, runs[i].range.end.value) << "seed " << seed;
        ASSERT_NE(runs[i].attributes, 0u) << "seed " << seed;
        if (i > 0) {
          ASSERT_LT(runs[i - 1].range.end.value, runs[i].range.start.value + 1) << "seed " << seed;
          ASSERT_FALSE(runs[i - 1].range.end == runs[i].range.start &&
                       runs[i - 1].attributes == runs[i].attributes)
              << "uncoalesced neighbours, seed " << seed << " step " << step;
        }
      }
    }
  }
}

// Through the VM: a rejected ioctl changes nothing (atomicity at the argument level) and the
// mmu_invalidate_seq moves only when attributes change (kvm_vm_set_mem_attributes no-op).
TEST(VmSetMemoryAttributes, RejectedCallsChangeNothingAndNoOpDoesNotZap) {
  VmFixture f(VmType::kSnp);
  ASSERT_TRUE(f.set_private(0x10000, 0x4000, true).has_value());
  const auto before = f.vm->attributes().runs();
  const uint64_t seq = f.vm->mmu_invalidate_seq();
  for (const KvmMemoryAttributes& bad :
       {attrs(0x10000, 0x4000, 0, 1), attrs(0x10000, 0x4000, 1), attrs(0x10000, 0, 0),
        attrs(0x10800, 0x4000, 0), attrs(0xFFFF'FFFF'FFFF'F000, 0x2000, 0)}) {
    auto r = f.vm->set_memory_attributes(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, KvmErrno::kEinval);
  }
  EXPECT_EQ(f.vm->attributes().runs(), before);
  EXPECT_EQ(f.vm->mmu_invalidate_seq(), seq);
  auto again = f.set_private(0x10000, 0x4000, true);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again) << "no-op must report unchanged";
  EXPECT_EQ(f.vm->mmu_invalidate_seq(), seq) << "no-op must not zap";
  auto conv = f.set_private(0x11000, 0x1000, false);
  ASSERT_TRUE(conv.has_value());
  EXPECT_TRUE(*conv);
  EXPECT_EQ(f.vm->mmu_invalidate_seq(), seq + 1);
  // Partial overlap converts the whole range at once: [0x12000, 0x18000) all private.
  ASSERT_TRUE(f.set_private(0x12000, 0x6000, true).has_value());
  EXPECT_TRUE(f.vm->attributes().range_has(Gfn{0x12}, Gfn{0x18}, P, P));
  EXPECT_FALSE(f.vm->mem_is_private(Gfn{0x11}));
}

// kvm_supported_mem_attributes per VM type.
TEST(VmSetMemoryAttributes, PrivateNeedsATypeWithPrivateMemory) {
  for (VmType t : {VmType::kDefault, VmType::kSwProtected, VmType::kSev, VmType::kSevEs,
                   VmType::kSnp}) {
    VmFixture f(t);
    auto r = f.set_private(0, 0x1000, true);
    const bool allowed = t == VmType::kSwProtected || t == VmType::kSnp;
    EXPECT_EQ(r.has_value(), allowed) << vm_type_name(t);
    if (!allowed) {
      EXPECT_EQ(r.error().code, KvmErrno::kEinval) << vm_type_name(t);
    }
    EXPECT_TRUE(f.set_private(0, 0x1000, false).has_value()) << vm_type_name(t);
  }
}

}  // namespace
}  // namespace snpemu::hv::test
