// platform_seed_from_machine_seed: the documented derivation, checked against answers computed
// once with Python's hashlib (sha384(b"snpemu platform seed v1" + seed.to_bytes(8, "little"))).
#include <gtest/gtest.h>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

TEST(PlatformSeed, KnownAnswers) {
  EXPECT_EQ(test::to_hex(platform_seed_from_machine_seed(0x534E'5045'4D55'0001)),
            "5c3a03031b8bc5b7faa02682e19300b807bffefc6a6e7d883742b4161a8a533288d2645466c8bfe5ad442"
            "db83e2d5e27")
      << "MachineConfig's default seed";
  EXPECT_EQ(test::to_hex(platform_seed_from_machine_seed(7)),
            "28b89d0445b45bab0b4b318026f0b6fe989d56902aeafd84323e38fb72bf593c8824f8a0b1c1309ad56ca"
            "bc2f11bb16f");
}

TEST(PlatformSeed, IsLongEnoughForTheVcek) {
  EXPECT_GE(platform_seed_from_machine_seed(0).size(), ModelVcek::kMinSeedSize);
  EXPECT_TRUE(ModelVcek::derive(platform_seed_from_machine_seed(0)).has_value());
}

}  // namespace
}  // namespace snpemu::fw
