// Tests of the VMM's SNP launch plan: the ranges, their order and contents, the initial VMSA
// read back at the spec's byte offsets, precise errors, and the measurement against an
// independent OpenSSL SHA-384 chain over PAGE_INFO.
#include "emu/vmm/launch_plan.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <vector>

#include "base/hex.h"
#include "emu/exec/boot_layout.h"
#include "test/emu/elf_builder.h"
#include "test/util/runfiles.h"

namespace snpemu::vmm {
namespace {

using test::ElfBuilder;
constexpr uint64_t kCBit = uint64_t{1} << 51;

uint64_t u64_at(const std::vector<uint8_t>& b, size_t off) {
  uint64_t v = 0;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
uint32_t u32_at(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v = 0;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
uint16_t u16_at(const std::vector<uint8_t>& b, size_t off) {
  uint16_t v = 0;
  std::memcpy(&v, b.data() + off, 2);
  return v;
}

// Code at 0x100000 (16 bytes of 0x90), data at 0x200000 (8 bytes of 0xAB, 0x1800 in memory).
ElfBuilder two_segments() {
  ElfBuilder b;
  b.add(0x100000, std::vector<uint8_t>(16, 0x90), 16);
  b.add(0x200000, std::vector<uint8_t>(8, 0xAB), 0x1800, PF_R | PF_W);
  return b;
}

LaunchPlan plan_of(const ElfBuilder& b, const LaunchOptions& options = {}) {
  auto plan = make_launch_plan(b.bytes(), options);
  EXPECT_TRUE(plan.has_value()) << plan.error().message;
  return plan.value_or(LaunchPlan{});
}

std::string plan_error(const ElfBuilder& b, const LaunchOptions& options = {}) {
  auto plan = make_launch_plan(b.bytes(), options);
  return plan.has_value() ? "planned" : plan.error().message;
}

TEST(LaunchPlan, RangesInOrderWithTypesAndAddresses) {
  const LaunchPlan plan = plan_of(two_segments());
  struct Want {
    fw::PageType type;
    uint64_t gpa;
    uint64_t pages;
  };
  const Want want[] = {
      {fw::PageType::kNormal, 0x100000, 1}, {fw::PageType::kNormal, 0x200000, 2},
      {fw::PageType::kNormal, 0x1000, 6},   {fw::PageType::kNormal, 0x7000, 1},
      {fw::PageType::kZero, 0x8000, 120},   {fw::PageType::kSecrets, 0x80000, 1},
      {fw::PageType::kCpuid, 0x81000, 1},   {fw::PageType::kVmsa, fw::kVmsaGpa.value, 1},
  };
  ASSERT_EQ(plan.ranges.size(), std::size(want));
  for (size_t i = 0; i < std::size(want); ++i) {
    const LaunchRange& r = plan.ranges[i];
    EXPECT_EQ(r.type, want[i].type) << "range " << i << " (" << r.what << ")";
    EXPECT_EQ(r.gpa.value, want[i].gpa) << "range " << i << " (" << r.what << "): expected gpa "
                                        << hex(want[i].gpa) << ", got " << hex(r.gpa.value);
    EXPECT_EQ(r.pages, want[i].pages) << "range " << i << " (" << r.what << ")";
    const bool has = r.type == fw::PageType::kNormal || r.type == fw::PageType::kVmsa ||
                     r.type == fw::PageType::kCpuid;
    EXPECT_EQ(r.contents.size(), has ? r.pages * kPageSize : 0) << "range " << i;
  }
  EXPECT_EQ(plan.entry, 0x100000u);
  EXPECT_EQ(plan.policy, kDefaultPolicy);
}

TEST(LaunchPlan, SegmentBytesAreZeroPaddedToMemszAndPage) {
  const LaunchPlan plan = plan_of(two_segments());
  const auto& code = plan.ranges[0].contents;
  for (size_t i = 0; i < kPageSize; ++i) {
    ASSERT_EQ(code[i], i < 16 ? 0x90 : 0) << "expected code byte at gpa " << hex(0x100000 + i);
  }
  const auto& data = plan.ranges[1].contents;
  for (size_t i = 0; i < 2 * kPageSize; ++i) {
    ASSERT_EQ(data[i], i < 8 ? 0xAB : 0) << "expected data byte at gpa " << hex(0x200000 + i);
  }
}

TEST(LaunchPlan, SegmentsSharingAPageMergeAndContiguousPagesJoinOneRange) {
  ElfBuilder b;
  b.add(0x100000, std::vector<uint8_t>(0x10, 0x11), 0x10);
  b.add(0x100800, std::vector<uint8_t>(0x900, 0x22), 0x900, PF_R);  // into the next page
  b.add(0x102000, std::vector<uint8_t>(4, 0x33), 4, PF_R);
  const LaunchPlan plan = plan_of(b);
  const LaunchRange& r = plan.ranges[0];
  ASSERT_EQ(r.type, fw::PageType::kNormal);
  EXPECT_EQ(r.gpa.value, 0x100000u);
  EXPECT_EQ(r.pages, 3u) << "pages 0x100000, 0x101000 and 0x102000 are contiguous";
  EXPECT_EQ(r.contents[0x0F], 0x11);
  EXPECT_EQ(r.contents[0x10], 0x00);
  EXPECT_EQ(r.contents[0x800], 0x22);
  EXPECT_EQ(r.contents[0x1000 + 0xFF], 0x22) << "segment 2 continues into the second page";
  EXPECT_EQ(r.contents[0x1000 + 0x100], 0x00);
  EXPECT_EQ(r.contents[0x2003], 0x33);
  EXPECT_EQ(plan.ranges[1].what, "boot page tables") << "one image range, then the boot pages";
}

TEST(LaunchPlan, BootPageTablesCarryTheCBitAndMatchBareMetalOtherwise) {
  const LaunchPlan plan = plan_of(two_segments());
  const std::vector<uint8_t>& pt = plan.ranges[2].contents;
  const std::vector<uint8_t> bare = boot::page_tables_image(0);
  ASSERT_EQ(pt.size(), bare.size());
  for (size_t off = 0; off < pt.size(); off += 8) {
    const uint64_t b = u64_at(bare, off);
    ASSERT_EQ(u64_at(pt, off), b == 0 ? 0 : (b | kCBit))
        << "entry at gpa " << hex(boot::kPml4 + off);
  }
  // Spot checks of the layout itself (APM vol 2, 5.3.3): PML4[0] -> PDPT, PDPT[3] -> PD 3,
  // PD 2 entry 5 maps 2 GiB + 10 MiB with P, RW, PS.
  EXPECT_EQ(u64_at(bare, 0), 0x2003u);
  EXPECT_EQ(u64_at(bare, 0x1000 + 3 * 8), 0x6003u);
  EXPECT_EQ(u64_at(bare, 0x2000 + 2 * 0x1000 + 5 * 8), (uint64_t{2} << 30 | 5 << 21) | 0x83);
  const std::vector<uint8_t>& gdt = plan.ranges[3].contents;
  EXPECT_EQ(u64_at(gdt, 0), 0u);
  EXPECT_EQ(u64_at(gdt, 8), 0x00209A0000000000u);
  EXPECT_EQ(u64_at(gdt, 16), 0x0000920000000000u);
}

// Every field of the initial VMSA, read at its sev_es_save_area offset (PLATFORM-FACTS 5.3).
TEST(LaunchPlan, BspVmsaHoldsTheDocumentedSixtyFourBitState) {
  const LaunchPlan plan = plan_of(two_segments());
  const std::vector<uint8_t>& v = plan.ranges.back().contents;
  ASSERT_EQ(v.size(), kPageSize);
  EXPECT_EQ(u16_at(v, 0x10), 0x08) << "cs.selector";
  EXPECT_EQ(u16_at(v, 0x12), 0xA9B) << "cs.attrib";
  EXPECT_EQ(u32_at(v, 0x14), 0xFFFFFFFFu) << "cs.limit";
  for (size_t seg : {0x00, 0x20, 0x30, 0x40, 0x50}) {
    EXPECT_EQ(u16_at(v, seg), 0x10) << "data selector at " << hex(seg);
    EXPECT_EQ(u16_at(v, seg + 2), 0xC93) << "data attrib at " << hex(seg);
  }
  EXPECT_EQ(u32_at(v, 0x64), 23u) << "gdtr.limit";
  EXPECT_EQ(u64_at(v, 0x68), 0x7000u) << "gdtr.base";
  EXPECT_EQ(u16_at(v, 0x92), 0x8B) << "tr.attrib";
  EXPECT_EQ(u32_at(v, 0x94), 0x67u) << "tr.limit";
  EXPECT_EQ(v[0xCA], 0) << "vmpl";
  EXPECT_EQ(v[0xCB], 0) << "cpl";
  EXPECT_EQ(u64_at(v, 0xD0), 0x1D00u) << "efer = LME|LMA|NXE|SVME";
  EXPECT_EQ(u64_at(v, 0x148), 0x60u) << "cr4 = PAE|MCE";
  EXPECT_EQ(u64_at(v, 0x150), 0x1000u | kCBit) << "cr3 = PML4 with the C-bit";
  EXPECT_EQ(u64_at(v, 0x158), 0x80010031u) << "cr0 = PE|ET|NE|WP|PG";
  EXPECT_EQ(u64_at(v, 0x160), 0x400u) << "dr7";
  EXPECT_EQ(u64_at(v, 0x168), 0xFFFF0FF0u) << "dr6";
  EXPECT_EQ(u64_at(v, 0x170), 0x2u) << "rflags";
  EXPECT_EQ(u64_at(v, 0x178), 0x100000u) << "rip = e_entry";
  EXPECT_EQ(u64_at(v, 0x1D8), 0x80000u) << "rsp = stack top";
  EXPECT_EQ(u64_at(v, 0x268), 0x0007040600070406u) << "g_pat";
  EXPECT_EQ(u64_at(v, 0x310), 0x00A10F11u) << "rdx = CPUID signature";
  EXPECT_EQ(u64_at(v, 0x338), 0u) << "rdi = vCPU index";
  EXPECT_EQ(u64_at(v, 0x3B0), 1u) << "sev_features = SNP active";
  EXPECT_EQ(u64_at(v, 0x3E8), 1u) << "xcr0";
  EXPECT_EQ(u32_at(v, 0x408), 0x1F80u) << "mxcsr";
  EXPECT_EQ(u16_at(v, 0x410), 0x37F) << "x87_fcw";
  for (size_t i = svm::kSevEsSaveAreaSize; i < kPageSize; ++i) {
    ASSERT_EQ(v[i], 0) << "VMSA page byte " << hex(i) << " past the save area";
  }
}

TEST(LaunchPlan, ApsGetTheirOwnStackIndexAndTheChosenFeatures) {
  LaunchOptions options;
  options.vcpus = 3;
  options.sev_features = svm::sev_features::kSnpActive | svm::sev_features::kDebugSwap;
  const LaunchPlan plan = plan_of(two_segments(), options);
  ASSERT_EQ(plan.ranges.size(), 10u);
  for (uint32_t i = 0; i < 3; ++i) {
    const LaunchRange& r = plan.ranges[7 + i];
    ASSERT_EQ(r.type, fw::PageType::kVmsa) << "range " << 7 + i;
    EXPECT_EQ(r.what, "VMSA of vCPU " + std::to_string(i));
    EXPECT_EQ(u64_at(r.contents, 0x178), 0x100000u) << "vCPU " << i << " rip";
    EXPECT_EQ(u64_at(r.contents, 0x1D8), 0x80000u - i * 0x4000) << "vCPU " << i << " rsp";
    EXPECT_EQ(u64_at(r.contents, 0x338), i) << "vCPU " << i << " rdi";
    EXPECT_EQ(u64_at(r.contents, 0x3B0), 0x21u) << "vCPU " << i << " sev_features";
  }
}

TEST(LaunchPlan, MalformedImagesAndOverlapsArePreciseErrors) {
  EXPECT_EQ(make_launch_plan(std::vector<uint8_t>(10), {}).error().message,
            "ELF: file is 10 bytes, shorter than the 64-byte ELF64 header");
  EXPECT_EQ(make_launch_plan(std::vector<uint8_t>(10), {}).error().kind,
            LaunchPlanErrorKind::kBadElf);
  {
    ElfBuilder b;
    b.entry = 0x7000;
    b.add(0x7000, {0xF4}, 1);
    auto r = make_launch_plan(b.bytes(), {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, LaunchPlanErrorKind::kOverlap);
    EXPECT_EQ(r.error().message,
              "ELF segment pages [0x7000, 0x8000) and GDT [0x7000, 0x8000) overlap");
  }
  {
    ElfBuilder b;
    b.entry = 0x81000;
    b.add(0x80800, std::vector<uint8_t>(0x1000, 1), 0x1000);
    EXPECT_EQ(plan_error(b),
              "ELF segment pages [0x80000, 0x82000) and secrets page [0x80000, 0x81000) overlap");
  }
  {
    ElfBuilder b;
    b.add(0x100000, std::vector<uint8_t>(16, 1), 16);
    b.add(0x100008, std::vector<uint8_t>(16, 2), 16, PF_R);
    EXPECT_EQ(plan_error(b), "ELF segments [0x100000, 0x100010) and [0x100008, 0x100018) overlap");
  }
  {
    ElfBuilder b;
    b.entry = 0xFFFFF000;
    b.add(0xFFFFF000, {0xF4}, 0x2000);
    auto r = make_launch_plan(b.bytes(), {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, LaunchPlanErrorKind::kOutOfRange);
    EXPECT_EQ(r.error().message,
              "ELF segment [0xfffff000, 0x100001000) is not below 0x100000000, the end of the boot "
              "identity map");
  }
  {
    ElfBuilder b = two_segments();
    b.entry = 0x200000;
    EXPECT_EQ(plan_error(b), "ELF: entry 0x200000 is not inside an executable PT_LOAD segment");
  }
  {
    ElfBuilder b = two_segments();
    b.segs[0].vaddr = 0xFFFFFFFF80100000;
    b.entry = 0xFFFFFFFF80100000;
    EXPECT_EQ(plan_error(b),
              "ELF: entry 0xffffffff80100000 is in a segment with p_vaddr 0xffffffff80100000 != "
              "p_paddr 0x100000; the boot map is the identity");
  }
}

TEST(LaunchPlan, BadOptionsAreNamed) {
  struct Case {
    LaunchOptions options;
    std::string message;
  };
  LaunchOptions no_vcpus, many_vcpus, bad_policy, reserved_policy, no_snp, unknown_feature, cbit;
  no_vcpus.vcpus = 0;
  many_vcpus.vcpus = 31;
  bad_policy.policy = 0;
  reserved_policy.policy = 0x30000 | (uint64_t{1} << 40);
  no_snp.sev_features = svm::sev_features::kDebugSwap;
  unknown_feature.sev_features = 1 | (1u << 11);
  cbit.c_bit = 52;
  const Case cases[] = {
      {no_vcpus, "vcpus 0 is not 1..30"},
      {many_vcpus, "vcpus 31 is not 1..30"},
      {bad_policy, "policy 0x0 must have bit 17 set and bits 63:26 clear (PLATFORM-FACTS 8.5)"},
      {reserved_policy,
       "policy 0x10000030000 must have bit 17 set and bits 63:26 clear (PLATFORM-FACTS 8.5)"},
      {no_snp, "SEV features 0x20 must have bit 0 (SNP active) set and only known bits 0x1d7ff"},
      {unknown_feature,
       "SEV features 0x801 must have bit 0 (SNP active) set and only known bits 0x1d7ff"},
      {cbit, "C-bit 52 is not 32..51"},
  };
  for (const Case& c : cases) {
    auto r = make_launch_plan(two_segments().bytes(), c.options);
    ASSERT_FALSE(r.has_value()) << c.message;
    EXPECT_EQ(r.error().kind, LaunchPlanErrorKind::kBadOption);
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(LaunchPlan, VmsaRangesShareTheirGpaWithoutOverlapping) {
  std::vector<LaunchRange> ranges(2);
  ranges[0] = LaunchRange{fw::PageType::kVmsa, fw::kVmsaGpa, 1, {}, "a"};
  ranges[1] = LaunchRange{fw::PageType::kVmsa, fw::kVmsaGpa, 1, {}, "b"};
  EXPECT_TRUE(check_no_overlap(ranges).has_value());
  ranges[1].type = fw::PageType::kZero;
  ranges[0].type = fw::PageType::kZero;
  EXPECT_EQ(check_no_overlap(ranges).error().message,
            "a [0xfffffffff000, 0x1000000000000) and b [0xfffffffff000, 0x1000000000000) overlap");
}

// ---- measurement against an independent chain ----

std::array<uint8_t, 48> sha384(const uint8_t* data, size_t size) {
  std::array<uint8_t, 48> out{};
  unsigned len = 0;
  EXPECT_EQ(EVP_Digest(data, size, out.data(), &len, EVP_sha384(), nullptr), 1);
  return out;
}

// PAGE_INFO (PLATFORM-FACTS 8.4) built byte by byte, hashed with OpenSSL.
std::array<uint8_t, 48> chain(const std::vector<LaunchRange>& ranges) {
  std::array<uint8_t, 48> digest{};
  for (const LaunchRange& r : ranges) {
    for (uint64_t p = 0; p < r.pages; ++p) {
      uint8_t info[0x70] = {};
      std::memcpy(info, digest.data(), 48);
      if (r.type == fw::PageType::kNormal || r.type == fw::PageType::kVmsa) {
        const auto contents = sha384(r.contents.data() + p * 4096, 4096);
        std::memcpy(info + 0x30, contents.data(), 48);
      }
      info[0x60] = 0x70;
      info[0x62] = static_cast<uint8_t>(r.type);
      const uint64_t gpa = r.gpa.value + p * 4096;
      for (int i = 0; i < 8; ++i) info[0x68 + i] = static_cast<uint8_t>(gpa >> (8 * i));
      digest = sha384(info, sizeof info);
    }
  }
  return digest;
}

TEST(LaunchPlan, MeasureIsThePageInfoChainOverThePlan) {
  for (uint32_t vcpus : {1u, 4u}) {
    LaunchOptions options;
    options.vcpus = vcpus;
    const LaunchPlan plan = plan_of(two_segments(), options);
    auto got = measure(plan.ranges);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(*got, chain(plan.ranges)) << "vcpus " << vcpus;
  }
  const std::vector<uint8_t> guest = test::read_runfile("test/guests/checksum.elf");
  auto plan = make_launch_plan(guest, {});
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  auto got = measure(plan->ranges);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(*got, chain(plan->ranges)) << "checksum.elf";
}

TEST(LaunchPlan, MeasureRefusesWhatTheFirmwareWould) {
  std::vector<LaunchRange> ranges(1);
  ranges[0] = LaunchRange{fw::PageType::kNormal, Gpa{0x1000}, 2, std::vector<uint8_t>(4096), "x"};
  auto r = measure(ranges);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, LaunchPlanErrorKind::kBadPage);
  EXPECT_EQ(r.error().message, "range 0 (x) has 4096 bytes for 2 pages");
  ranges[0] = LaunchRange{fw::PageType::kZero, Gpa{0x1800}, 1, {}, "y"};
  EXPECT_EQ(measure(ranges).error().message,
            "range 0 (y) page 0: launch GPA 0x1800 is not a page-aligned 52-bit address");
}

}  // namespace
}  // namespace snpemu::vmm
