// Tests of host-physical RAM: sparse allocation, boundaries, out-of-range errors, cross-page spans.
#include "emu/mem/memory.h"

#include <gtest/gtest.h>

#include <array>
#include <numeric>
#include <vector>

namespace snpemu {
namespace {

std::unique_ptr<Memory> make(uint64_t size) {
  auto m = Memory::create(size);
  EXPECT_TRUE(m.has_value()) << m.error();
  return std::move(*m);
}

TEST(MemoryCreate, RejectsBadSizes) {
  EXPECT_EQ(Memory::create(0).error(), "memory size must not be zero");
  EXPECT_EQ(Memory::create(4097).error(), "memory size 4097 is not a multiple of 4096 bytes");
  EXPECT_FALSE(Memory::create(Memory::kMaxSize + kPageSize).has_value());
  EXPECT_TRUE(Memory::create(Memory::kMaxSize).has_value());
}

TEST(MemoryCreate, DefaultIs4GiB) {
  auto m = make(Memory::kDefaultSize);
  EXPECT_EQ(m->size(), uint64_t{4} << 30);
}

TEST(MemorySparse, UntouchedMemoryReadsZeroAndAllocatesNothing) {
  auto m = make(uint64_t{1} << 40);  // 1 TiB of address space
  EXPECT_EQ(m->resident_pages(), 0u);
  EXPECT_EQ(*m->read64(Hpa{0xFF'2345'6788}), 0u);  // near the top of 1 TiB
  std::vector<uint8_t> buf(3 * kPageSize, 0xAA);
  ASSERT_TRUE(m->read(Hpa{(uint64_t{1} << 40) - buf.size()}, buf));
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(m->resident_pages(), 0u);
  EXPECT_EQ(m->page_pointer_if_present(Pfn{5}), nullptr);
}

TEST(MemorySparse, WritesAllocateOnlyTouchedPages) {
  auto m = make(uint64_t{1} << 40);
  ASSERT_TRUE(m->write64(Hpa{0}, 1));
  ASSERT_TRUE(m->write64(Hpa{(uint64_t{1} << 40) - 8}, 2));  // last qword of 1 TiB
  ASSERT_TRUE(m->write8(Hpa{uint64_t{512} << 30}, 3));
  EXPECT_EQ(m->resident_pages(), 3u);
  EXPECT_EQ(*m->read64(Hpa{0}), 1u);
  EXPECT_EQ(*m->read64(Hpa{(uint64_t{1} << 40) - 8}), 2u);
  EXPECT_EQ(*m->read8(Hpa{uint64_t{512} << 30}), 3u);
  // Rewriting an allocated page does not allocate again.
  ASSERT_TRUE(m->write32(Hpa{4}, 7));
  EXPECT_EQ(m->resident_pages(), 3u);
}

TEST(MemorySparse, ZeroFillOfUntouchedPagesAllocatesNothing) {
  auto m = make(uint64_t{1} << 30);
  ASSERT_TRUE(m->fill(Hpa{0}, 64 * kPageSize, 0));
  EXPECT_EQ(m->resident_pages(), 0u);
  ASSERT_TRUE(m->fill(Hpa{100}, 2 * kPageSize, 0x5A));
  EXPECT_EQ(m->resident_pages(), 3u);  // [100, 100 + 8192) touches pages 0, 1 and 2
  EXPECT_EQ(*m->read8(Hpa{99}), 0u);
  EXPECT_EQ(*m->read8(Hpa{100}), 0x5Au);
  EXPECT_EQ(*m->read8(Hpa{100 + 2 * kPageSize - 1}), 0x5Au);
  EXPECT_EQ(*m->read8(Hpa{100 + 2 * kPageSize}), 0u);
}

TEST(MemoryScalar, LittleEndianAcrossWidths) {
  auto m = make(1 << 20);
  ASSERT_TRUE(m->write64(Hpa{0x100}, 0x0807060504030201ull));
  EXPECT_EQ(*m->read8(Hpa{0x100}), 0x01u);
  EXPECT_EQ(*m->read16(Hpa{0x101}), 0x0302u);
  EXPECT_EQ(*m->read32(Hpa{0x104}), 0x08070605u);
  ASSERT_TRUE(m->write16(Hpa{0x102}, 0xBBAA));
  EXPECT_EQ(*m->read64(Hpa{0x100}), 0x08070605BBAA0201ull);
}

TEST(MemoryScalar, ValuesStraddlingAPageBoundary) {
  auto m = make(1 << 20);
  for (uint64_t off = 1; off < 8; ++off) {
    const Hpa pa{kPageSize - off};
    const uint64_t v = 0x1122334455667788ull ^ off;
    ASSERT_TRUE(m->write64(pa, v));
    EXPECT_EQ(*m->read64(pa), v) << "offset " << off;
    EXPECT_EQ(*m->read8(Hpa{kPageSize}), static_cast<uint8_t>(v >> (8 * off)))
        << "first byte of the second page, offset " << off;
  }
}

TEST(MemorySpan, CopiesCrossManyPages) {
  auto m = make(1 << 24);
  std::vector<uint8_t> in(5 * kPageSize + 123);
  std::iota(in.begin(), in.end(), uint8_t{7});
  const Hpa pa{3 * kPageSize - 77};
  ASSERT_TRUE(m->write(pa, in));
  std::vector<uint8_t> out(in.size());
  ASSERT_TRUE(m->read(pa, out));
  EXPECT_EQ(in, out);
  EXPECT_EQ(*m->read8(Hpa{pa.value - 1}), 0u);
  EXPECT_EQ(*m->read8(Hpa{pa.value + in.size()}), 0u);
  // Bytes land where a flat array would put them.
  EXPECT_EQ(*m->read8(Hpa{3 * kPageSize}), in[77]);
}

TEST(MemoryBounds, LastByteIsInsideFirstByteAfterIsNot) {
  const uint64_t size = 1 << 20;
  auto m = make(size);
  EXPECT_TRUE(m->write8(Hpa{size - 1}, 9));
  EXPECT_EQ(*m->read8(Hpa{size - 1}), 9u);
  auto r = m->read8(Hpa{size});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, MemError::Kind::kOutOfRange);
  EXPECT_EQ(r.error().pa, Hpa{size});
  EXPECT_EQ(r.error().message(), "physical access [0x100000, +1) outside RAM of 0x100000 bytes");
}

TEST(MemoryBounds, AccessesThatStartInsideButEndOutsideFailAndWriteNothing) {
  const uint64_t size = 1 << 20;
  auto m = make(size);
  EXPECT_FALSE(m->write64(Hpa{size - 4}, ~0ull).has_value());
  EXPECT_FALSE(m->read32(Hpa{size - 2}).has_value());
  std::array<uint8_t, 16> buf{};
  buf.fill(0xEE);
  EXPECT_FALSE(m->write(Hpa{size - 8}, buf).has_value());
  EXPECT_FALSE(m->fill(Hpa{size - 8}, 9, 1).has_value());
  EXPECT_EQ(*m->read64(Hpa{size - 8}), 0u) << "a failed access must not write a partial prefix";
  EXPECT_EQ(m->resident_pages(), 0u);
}

TEST(MemoryBounds, AddressOverflowIsAnError) {
  auto m = make(1 << 20);
  std::array<uint8_t, 16> buf{};
  EXPECT_FALSE(m->read(Hpa{~0ull - 4}, buf).has_value());
  EXPECT_FALSE(m->write64(Hpa{~0ull}, 1).has_value());
  EXPECT_TRUE(m->read(Hpa{1 << 20}, std::span<uint8_t>()).has_value()) << "empty span at end";
}

TEST(MemoryPagePointer, FastPathSeesSlowPathWrites) {
  auto m = make(1 << 20);
  ASSERT_TRUE(m->write32(Hpa{0x2004}, 0xCAFEF00D));
  uint8_t* p = m->page_pointer(Pfn{2});
  ASSERT_NE(p, nullptr);
  uint32_t v;
  std::memcpy(&v, p + 4, 4);
  EXPECT_EQ(v, 0xCAFEF00Du);
  p[8] = 0x42;
  EXPECT_EQ(*m->read8(Hpa{0x2008}), 0x42u);
  EXPECT_EQ(m->page_pointer(Pfn{2}), p) << "page pointers are stable";
  EXPECT_EQ(m->page_pointer(Pfn{256}), nullptr) << "pfn 256 is outside 1 MiB";
  EXPECT_EQ(m->page_pointer_if_present(Pfn{256}), nullptr);
}

TEST(MemoryPagePointer, TwoMachinesAreIndependent) {
  auto a = make(1 << 20);
  auto b = make(1 << 20);
  ASSERT_TRUE(a->write8(Hpa{0}, 1));
  EXPECT_EQ(*b->read8(Hpa{0}), 0u);
}

}  // namespace
}  // namespace snpemu

namespace snpemu {
namespace {

TEST(MemorySnapshot, RoundTripKeepsContentsAndSparseness) {
  auto a = make(uint64_t{1} << 40);
  ASSERT_TRUE(a->write64(Hpa{0x1000}, 0x1122334455667788ull));
  ASSERT_TRUE(a->write8(Hpa{(uint64_t{1} << 40) - 1}, 0x99));
  Serializer w = Serializer::writer();
  a->serialize(w);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.bytes().size(), 8u + 8u + 2 * (8u + kPageSize)) << "only resident pages are saved";

  auto b = make(uint64_t{1} << 40);
  Serializer r = Serializer::reader(w.bytes());
  b->serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  EXPECT_EQ(b->resident_pages(), 2u);
  EXPECT_EQ(*b->read64(Hpa{0x1000}), 0x1122334455667788ull);
  EXPECT_EQ(*b->read8(Hpa{(uint64_t{1} << 40) - 1}), 0x99u);
}

TEST(MemorySnapshot, MalformedSnapshotsAreNamedErrors) {
  auto a = make(1 << 20);
  ASSERT_TRUE(a->write8(Hpa{0x3000}, 1));
  Serializer w = Serializer::writer();
  a->serialize(w);
  const std::vector<uint8_t> good = w.bytes();

  auto load = [](std::vector<uint8_t> bytes, uint64_t size) {
    auto m = make(size);
    Serializer r = Serializer::reader(bytes);
    m->serialize(r);
    return r.ok() ? std::string("ok") : r.status().error().message();
  };
  EXPECT_EQ(load(good, 1 << 20), "ok");
  EXPECT_EQ(load(good, 2 << 20),
            "field 'memory.size': snapshot has 1048576 bytes, this machine 2097152");
  auto bad_pfn = good;
  bad_pfn[16] = 0xFF;  // pfn 0x3 -> 0xFF, beyond 256 pages
  bad_pfn[17] = 0x7;
  EXPECT_EQ(load(bad_pfn, 1 << 20),
            "field 'memory.pfn': page 2047 is outside memory or not in ascending order");
  auto truncated = good;
  truncated.resize(good.size() - 1);
  EXPECT_EQ(load(truncated, 1 << 20),
            "field 'memory.page': truncated: needs 4096 bytes, 4095 left");
  auto too_many = good;
  too_many[8] = 0x01;
  too_many[9] = 0x10;  // 4097 resident pages
  EXPECT_EQ(load(too_many, 1 << 20), "field 'memory.resident_pages': 4097 pages do not fit in 256");

  auto nonempty = make(1 << 20);
  ASSERT_TRUE(nonempty->write8(Hpa{0}, 1));
  Serializer r = Serializer::reader(good);
  nonempty->serialize(r);
  EXPECT_EQ(r.status().error().message(),
            "field 'memory.size': memory must be empty before a snapshot is loaded into it");
}

}  // namespace
}  // namespace snpemu
