// Tests of contiguous backing (emu/mem/contiguous.cc): one copy of the bytes seen through
// Memory's API, page_pointer() and the host pointer; sparseness kept; bounds and every error
// kind; snapshots identical with and without backing; the host refusing the reservation.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "emu/mem/memory.h"

namespace snpemu {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
using Kind = BackingError::Kind;

std::unique_ptr<Memory> make(uint64_t size) {
  auto m = Memory::create(size);
  EXPECT_TRUE(m.has_value()) << m.error();
  return std::move(*m);
}

uint64_t host_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

TEST(MemoryContiguous, WritesThroughMemoryAreSeenThroughThePointer) {
  auto m = make(1 * kGiB);
  const Hpa base{16 * kMiB};
  auto host = m->back_contiguous(base, 64 * 1024);
  ASSERT_TRUE(host) << host.error().message();
  ASSERT_TRUE(m->write64(Hpa{base.value + 0x1008}, 0x1122'3344'5566'7788));
  EXPECT_EQ(host_u64(*host + 0x1008), 0x1122'3344'5566'7788u)
      << "expected write64 at hpa 0x" << std::hex << base.value + 0x1008 << " via the pointer";
  // A value straddling two pages of the range lands contiguously.
  ASSERT_TRUE(m->write64(Hpa{base.value + 0x2FFC}, 0xAABB'CCDD'EEFF'0011));
  EXPECT_EQ(host_u64(*host + 0x2FFC), 0xAABB'CCDD'EEFF'0011u);
  // page_pointer() hands out the same bytes: one backing, not two copies.
  uint8_t* page = m->page_pointer(pfn_of(Hpa{base.value + 0x1000}));
  EXPECT_EQ(page, *host + 0x1000) << "expected page_pointer inside the reservation";
  EXPECT_EQ(m->page_pointer_if_present(pfn_of(Hpa{base.value + 0x1000})), *host + 0x1000);
  EXPECT_EQ(m->contiguous_pointer(Hpa{base.value + 0x1008}, 8), *host + 0x1008);
}

TEST(MemoryContiguous, WritesThroughPagePointerAreSeenByMemoryAndThePointer) {
  auto m = make(1 * kGiB);
  const Hpa base{32 * kMiB};
  auto host = m->back_contiguous(base, 4 * kPageSize);
  ASSERT_TRUE(host) << host.error().message();
  uint8_t* page = m->page_pointer(pfn_of(Hpa{base.value + 2 * kPageSize}));
  ASSERT_NE(page, nullptr);
  page[0x10] = 0x5A;
  EXPECT_EQ((*host)[2 * kPageSize + 0x10], 0x5A);
  EXPECT_EQ(*m->read8(Hpa{base.value + 2 * kPageSize + 0x10}), 0x5Au);
  std::vector<uint8_t> span(3 * kPageSize, 0xEE);
  ASSERT_TRUE(m->write(base, span));
  EXPECT_EQ(std::memcmp(*host, span.data(), span.size()), 0) << "expected a 3-page write.";
  std::vector<uint8_t> back(4 * kPageSize);
  ASSERT_TRUE(m->read(base, back));
  EXPECT_EQ(std::memcmp(back.data(), *host, back.size()), 0) << "expected read() == pointer";
}

TEST(MemoryContiguous, StaysSparse) {
  auto m = make(1 * kGiB);
  const Hpa base{64 * kMiB};
  auto host = m->back_contiguous(base, 8 * kMiB);
  ASSERT_TRUE(host) << host.error().message();
  EXPECT_EQ(m->resident_pages(), 0u) << "backing allocates no page";
  EXPECT_EQ(host_u64(*host + 5 * kMiB), 0u) << "an untouched page reads zero through the pointer";
  EXPECT_EQ(*m->read64(Hpa{base.value + 5 * kMiB}), 0u);
  ASSERT_TRUE(m->fill(base, 8 * kMiB, 0));
  EXPECT_EQ(m->resident_pages(), 0u) << "reads and zero fills of untouched pages allocate nothing";
  EXPECT_EQ(m->page_pointer_if_present(pfn_of(base)), nullptr);
  ASSERT_TRUE(m->write8(Hpa{base.value + 3 * kPageSize}, 1));
  ASSERT_TRUE(m->write8(Hpa{base.value + 3 * kPageSize + 9}, 2));
  EXPECT_EQ(m->resident_pages(), 1u) << "one written page of the range is resident";
}

TEST(MemoryContiguous, PointerBoundsAndReuse) {
  auto m = make(1 * kGiB);
  const Hpa base{128 * kMiB};
  const uint64_t len = 16 * kPageSize;
  auto host = m->back_contiguous(base, len);
  ASSERT_TRUE(host) << host.error().message();
  EXPECT_EQ(m->contiguous_pointer(Hpa{base.value + len - 1}, 1), *host + len - 1);
  EXPECT_EQ(m->contiguous_pointer(Hpa{base.value + len - 8}, 9), nullptr) << "crosses the end";
  EXPECT_EQ(m->contiguous_pointer(Hpa{base.value + len}, 1), nullptr) << "first byte after";
  EXPECT_EQ(m->contiguous_pointer(Hpa{base.value - 1}, 1), nullptr) << "last byte before";
  EXPECT_EQ(m->contiguous_pointer(Hpa{~uint64_t{0} - 3}, 8), nullptr) << "address overflow";
  // A sub-range of an existing range: a pointer into it, no new reservation.
  auto inner = m->back_contiguous(Hpa{base.value + 4 * kPageSize}, 2 * kPageSize);
  ASSERT_TRUE(inner) << inner.error().message();
  EXPECT_EQ(*inner, *host + 4 * kPageSize);
  EXPECT_EQ(m->contiguous_ranges(), 1u);
}

TEST(MemoryContiguous, ErrorsNameTheCauseAndChangeNothing) {
  auto m = make(1 * kGiB);
  const auto error_of = [&](Hpa pa, uint64_t len) {
    auto r = m->back_contiguous(pa, len);
    EXPECT_FALSE(r.has_value()) << "expected an error for [0x" << std::hex << pa.value << ", +0x"
                                << len << ")";
    return r ? BackingError{} : r.error();
  };
  EXPECT_EQ(error_of(Hpa{0x800}, kPageSize).kind, Kind::kMisaligned);
  EXPECT_EQ(error_of(Hpa{0x1000}, 0x800).kind, Kind::kMisaligned);
  EXPECT_EQ(error_of(Hpa{0x1000}, 0).kind, Kind::kMisaligned);
  const BackingError out = error_of(Hpa{kGiB - kPageSize}, 2 * kPageSize);
  EXPECT_EQ(out.kind, Kind::kOutOfRange);
  EXPECT_EQ(out.message(),
            "cannot back [0x3ffff000, +0x2000) contiguously: outside RAM of 0x40000000 bytes");
  EXPECT_EQ(error_of(Hpa{~uint64_t{0} & ~kPageOffsetMask}, 2 * kPageSize).kind,
            Kind::kOutOfRange);
  ASSERT_TRUE(m->back_contiguous(Hpa{4 * kMiB}, 4 * kPageSize));
  const BackingError overlap = error_of(Hpa{4 * kMiB + 2 * kPageSize}, 4 * kPageSize);
  EXPECT_EQ(overlap.kind, Kind::kOverlap);
  EXPECT_EQ(overlap.detail, 4 * kMiB) << "expected the existing range's first byte";
  ASSERT_TRUE(m->write8(Hpa{8 * kMiB + 5 * kPageSize + 1}, 7));
  const BackingError resident = error_of(Hpa{8 * kMiB}, 8 * kPageSize);
  EXPECT_EQ(resident.kind, Kind::kResident);
  EXPECT_EQ(resident.detail, (8 * kMiB >> kPageShift) + 5);
  EXPECT_EQ(resident.message(),
            "cannot back [0x800000, +0x8000) contiguously: page 0x805 is already allocated "
            "elsewhere");
  EXPECT_EQ(m->contiguous_ranges(), 1u) << "failed calls add no range";
  EXPECT_EQ(*m->read8(Hpa{8 * kMiB + 5 * kPageSize + 1}), 7u) << "the resident page is intact";
  EXPECT_EQ(m->resident_pages(), 1u);
}

TEST(MemoryContiguous, HostRefusalIsAnErrorValue) {
  // 2^47 bytes exceed the host's user address space (47 bits): mmap must fail with ENOMEM.
  auto m = make(Memory::kMaxSize);
  auto r = m->back_contiguous(Hpa{0}, uint64_t{1} << 47);
  ASSERT_FALSE(r.has_value()) << "expected mmap of 128 TiB to fail";
  EXPECT_EQ(r.error().kind, Kind::kHostMapFailed);
  EXPECT_EQ(r.error().detail, uint64_t{ENOMEM});
  EXPECT_NE(r.error().message().find("host mmap failed"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(m->contiguous_ranges(), 0u);
  ASSERT_TRUE(m->write64(Hpa{0x1000}, 5)) << "memory still works after the refusal";
  EXPECT_EQ(*m->read64(Hpa{0x1000}), 5u);
}

#if defined(__SANITIZE_ADDRESS__)
#define SNPEMU_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNPEMU_TEST_ASAN 1
#endif
#endif

#if !defined(SNPEMU_TEST_ASAN)
// RLIMIT_AS below what the reservation needs (sanitizers reserve terabytes of shadow, so this
// runs only in plain builds; HostRefusalIsAnErrorValue covers them).
TEST(MemoryContiguous, AddressSpaceLimitIsAnErrorValue) {
  auto m = make(4 * kGiB);
  // Current address space (VmSize, pages) + 256 MiB of headroom for small allocations.
  FILE* statm = std::fopen("/proc/self/statm", "r");
  ASSERT_NE(statm, nullptr);
  unsigned long long vm_pages = 0;
  ASSERT_EQ(std::fscanf(statm, "%llu", &vm_pages), 1);
  std::fclose(statm);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
  rlimit tight = old;
  tight.rlim_cur = vm_pages * kPageSize + 256 * kMiB;
  if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < tight.rlim_cur) {
    tight.rlim_cur = old.rlim_cur;
  }
  ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
  auto r = m->back_contiguous(Hpa{0}, 2 * kGiB);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
  ASSERT_FALSE(r.has_value()) << "expected mmap of 2 GiB under RLIMIT_AS = VmSize + 256 MiB "
                                  "to fail";
  EXPECT_EQ(r.error().kind, Kind::kHostMapFailed);
  EXPECT_EQ(r.error().detail, uint64_t{ENOMEM});
  EXPECT_EQ(m->contiguous_ranges(), 0u);
  auto again = m->back_contiguous(Hpa{0}, 2 * kGiB);
  EXPECT_TRUE(again.has_value()) << "expected success once the limit is lifted";
}
#endif

TEST(MemoryContiguous, SnapshotIsIdenticalWithAndWithoutBacking) {
  const auto fill = [](Memory& m) {
    ASSERT_TRUE(m.write64(Hpa{0x1000}, 0x1111));                     // outside the range
    ASSERT_TRUE(m.write64(Hpa{64 * kMiB + 0x3008}, 0x2222));         // inside
    ASSERT_TRUE(m.write64(Hpa{64 * kMiB + 4 * kMiB - 8}, 0x3333));   // last qword inside
    ASSERT_TRUE(m.write64(Hpa{512 * kMiB}, 0x4444));                 // outside
  };
  auto plain = make(1 * kGiB);
  fill(*plain);
  auto backed = make(1 * kGiB);
  auto host = backed->back_contiguous(Hpa{64 * kMiB}, 4 * kMiB);
  ASSERT_TRUE(host) << host.error().message();
  fill(*backed);
  Serializer wp = Serializer::writer();
  plain->serialize(wp);
  Serializer wb = Serializer::writer();
  backed->serialize(wb);
  ASSERT_TRUE(wp.ok() && wb.ok());
  EXPECT_EQ(wp.bytes(), wb.bytes()) << "a snapshot must not depend on where the bytes live";

  // Restore into a Memory with the range backed: contents visible through its pointer.
  auto restored = make(1 * kGiB);
  auto rhost = restored->back_contiguous(Hpa{64 * kMiB}, 4 * kMiB);
  ASSERT_TRUE(rhost) << rhost.error().message();
  Serializer r = Serializer::reader(wb.bytes());
  restored->serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  EXPECT_EQ(restored->resident_pages(), 4u);
  EXPECT_EQ(host_u64(*rhost + 0x3008), 0x2222u) << "expected the restored qword at 0x4003008";
  EXPECT_EQ(host_u64(*rhost + 4 * kMiB - 8), 0x3333u);
  EXPECT_EQ(*restored->read64(Hpa{0x1000}), 0x1111u);
  Serializer again = Serializer::writer();
  restored->serialize(again);
  EXPECT_EQ(again.bytes(), wb.bytes()) << "round trip must reproduce the snapshot";
}

TEST(MemoryWindow, PartsLandAtTheirOffsetsInOneReservation) {
  auto m = make(1 * kGiB);
  // Two tables far apart in RAM, adjacent in the window, in reverse order.
  const std::array<Memory::WindowPart, 2> parts{{
      {Hpa{700 * kMiB}, 2 * kPageSize, 0},
      {Hpa{100 * kMiB}, 3 * kPageSize, 2 * kPageSize},
  }};
  auto window = m->back_window(parts);
  ASSERT_TRUE(window) << window.error().message();
  ASSERT_TRUE(m->write64(Hpa{100 * kMiB + 8}, 0xB));
  ASSERT_TRUE(m->write64(Hpa{700 * kMiB + kPageSize}, 0xA));
  EXPECT_EQ(host_u64(*window + 2 * kPageSize + 8), 0xBu) << "expected part 1 at offset 0x2000";
  EXPECT_EQ(host_u64(*window + kPageSize), 0xAu) << "expected part 0 at offset 0";
  EXPECT_EQ(m->contiguous_ranges(), 2u);
  // Asking again for the same placement returns the same window; another placement overlaps.
  auto same = m->back_window(parts);
  ASSERT_TRUE(same) << same.error().message();
  EXPECT_EQ(*same, *window);
  const std::array<Memory::WindowPart, 2> moved{{parts[0], {parts[1].pa, parts[1].length,
                                                             4 * kPageSize}}};
  auto other = m->back_window(moved);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().kind, Kind::kOverlap);
}

TEST(MemoryWindow, PartsMustBeDisjointAndAligned) {
  auto m = make(1 * kGiB);
  const std::array<Memory::WindowPart, 2> same_ram{{{Hpa{0x10000}, 2 * kPageSize, 0},
                                                    {Hpa{0x11000}, kPageSize, 8 * kPageSize}}};
  auto r1 = m->back_window(same_ram);
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.error().kind, Kind::kOverlap) << "parts overlapping in RAM";
  const std::array<Memory::WindowPart, 2> same_window{{{Hpa{0x10000}, 2 * kPageSize, 0},
                                                       {Hpa{0x40000}, kPageSize, kPageSize}}};
  auto r2 = m->back_window(same_window);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().kind, Kind::kOverlap) << "parts overlapping in the window";
  const std::array<Memory::WindowPart, 1> odd{{{Hpa{0x10000}, kPageSize, 0x800}}};
  auto r3 = m->back_window(odd);
  ASSERT_FALSE(r3.has_value());
  EXPECT_EQ(r3.error().kind, Kind::kMisaligned) << "offset not page aligned";
  EXPECT_FALSE(m->back_window({}).has_value()) << "no parts";
  EXPECT_EQ(m->contiguous_ranges(), 0u);
}

TEST(MemoryContiguous, TwoMachinesAreIndependent) {
  auto a = make(1 * kGiB);
  auto b = make(1 * kGiB);
  auto ha = a->back_contiguous(Hpa{0}, 16 * kPageSize);
  auto hb = b->back_contiguous(Hpa{0}, 16 * kPageSize);
  ASSERT_TRUE(ha && hb);
  EXPECT_NE(*ha, *hb);
  ASSERT_TRUE(a->write8(Hpa{5}, 9));
  EXPECT_EQ((*hb)[5], 0) << "a write to machine a must not show in machine b";
  EXPECT_EQ((*ha)[5], 9);
}

}  // namespace
}  // namespace snpemu
