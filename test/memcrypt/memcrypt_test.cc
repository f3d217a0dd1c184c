// The memory encryption model: its own inverse, address- and key-dependent, piecewise equal to
// whole, and key slots with generations.
#include "emu/memcrypt/memcrypt.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace snpemu::memcrypt {
namespace {

constexpr Key kA{1, 2};
constexpr Key kB{1, 3};

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 1);
  return v;
}

TEST(Memcrypt, ApplyTwiceIsIdentity) {
  auto v = pattern(100);
  const auto orig = v;
  apply(kA, 0x1003, v);
  EXPECT_NE(v, orig);
  apply(kA, 0x1003, v);
  EXPECT_EQ(v, orig);
}

TEST(Memcrypt, CiphertextDependsOnKeyAndAddress) {
  auto a = pattern(64), b = pattern(64), c = pattern(64);
  apply(kA, 0x2000, a);
  apply(kB, 0x2000, b);
  apply(kA, 0x3000, c);
  EXPECT_NE(a, b) << "another key";
  EXPECT_NE(a, c) << "the same plaintext moved to another page";
}

TEST(Memcrypt, PiecewiseEqualsWhole) {
  auto whole = pattern(77);
  auto parts = whole;
  apply(kA, 0x4005, whole);
  apply(kA, 0x4005, std::span(parts.data(), 3));
  apply(kA, 0x4008, std::span(parts.data() + 3, 40));
  apply(kA, 0x4030, std::span(parts.data() + 43, 34));
  EXPECT_EQ(parts, whole);
}

TEST(Memcrypt, KeySlotsCountGenerations) {
  KeyTable t(10);
  EXPECT_FALSE(t.key(Asid{3}).has_value());
  EXPECT_EQ(t.generation(Asid{3}), 0u);
  ASSERT_TRUE(t.install(Asid{3}, kA));
  EXPECT_EQ(t.key(Asid{3}), kA);
  EXPECT_EQ(t.generation(Asid{3}), 1u);
  ASSERT_TRUE(t.remove(Asid{3}));
  EXPECT_FALSE(t.key(Asid{3}).has_value());
  EXPECT_EQ(t.generation(Asid{3}), 2u);
  EXPECT_FALSE(t.install(Asid{11}, kA)) << "beyond the slots";
}

}  // namespace
}  // namespace snpemu::memcrypt
