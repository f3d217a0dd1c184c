// base/hex.h: the message format for addresses and values.
#include "base/hex.h"

#include <gtest/gtest.h>

namespace snpemu {
namespace {

TEST(Hex, LowerCaseNoPadding) {
  EXPECT_EQ(hex(0), "0x0");
  EXPECT_EQ(hex(0x1000), "0x1000");
  EXPECT_EQ(hex(0xABCDEF), "0xabcdef");
  EXPECT_EQ(hex(~uint64_t{0}), "0xffffffffffffffff");
}

}  // namespace
}  // namespace snpemu
