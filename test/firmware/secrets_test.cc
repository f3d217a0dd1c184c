// Tests of the secrets page layout and the VMPCK derivation (recomputed with an independent
// libcrypto HKDF interface).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

std::vector<uint8_t> seed() { return std::vector<uint8_t>(32, 0xA5); }

Vmpck independent_vmpck(std::span<const uint8_t> ikm, uint8_t index, uint64_t guest_id) {
  uint8_t info[14] = {'V', 'M', 'P', 'C', 'K', index};
  for (int i = 0; i < 8; ++i) info[6 + i] = static_cast<uint8_t>(guest_id >> (8 * i));
  const std::string_view salt = "snpemu VMPCK";
  Vmpck out{};
  size_t len = out.size();
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  bool ok = ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha384()) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_salt(ctx, reinterpret_cast<const unsigned char*>(salt.data()),
                                        static_cast<int>(salt.size())) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm.data(), static_cast<int>(ikm.size())) == 1 &&
            EVP_PKEY_CTX_add1_hkdf_info(ctx, info, sizeof(info)) == 1 &&
            EVP_PKEY_derive(ctx, out.data(), &len) == 1;
  EVP_PKEY_CTX_free(ctx);
  EXPECT_TRUE(ok);
  return out;
}

TEST(Vmpck, DerivationMatchesDocumentedFormula) {
  auto s = seed();
  for (uint64_t guest_id : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102030405060708}}) {
    auto keys = derive_vmpcks(s, guest_id);
    ASSERT_TRUE(keys.has_value()) << keys.error().message;
    for (uint8_t i = 0; i < 4; ++i) {
      EXPECT_EQ((*keys)[i], independent_vmpck(s, i, guest_id))
          << "VMPCK" << int(i) << " guest_id " << guest_id;
    }
  }
}

TEST(Vmpck, DistinctPerIndexAndGuestAndSeed) {
  auto a = derive_vmpcks(seed(), 1);
  auto b = derive_vmpcks(seed(), 2);
  auto other_seed = std::vector<uint8_t>(32, 0xA4);
  auto c = derive_vmpcks(other_seed, 1);
  ASSERT_TRUE(a && b && c);
  for (int i = 0; i < 4; ++i) {
    for (int j = i + 1; j < 4; ++j) EXPECT_NE((*a)[i], (*a)[j]) << i << " vs " << j;
    EXPECT_NE((*a)[i], (*b)[i]);
    EXPECT_NE((*a)[i], (*c)[i]);
  }
  EXPECT_EQ(derive_vmpcks(std::vector<uint8_t>(15), 0).error().kind, ErrorKind::kBadLength);
}

TEST(SecretsPage, FieldsAtSpecOffsets) {
  auto keys = derive_vmpcks(seed(), 9);
  ASSERT_TRUE(keys.has_value());
  SecretsInputs in;
  in.imi_en = true;
  in.fms = 0x00A00F11;  // Milan family 19h model 01h stepping 1
  in.gosvw[0] = 0x77;
  in.tsc_factor = 0x1234;
  auto bytes = serialize_secrets_page(build_secrets_page(*keys, in));
  uint32_t u32;
  std::memcpy(&u32, bytes.data() + 0x000, 4);
  EXPECT_EQ(u32, kSecretsPageVersion);
  std::memcpy(&u32, bytes.data() + 0x004, 4);
  EXPECT_EQ(u32, 1u) << "IMI_EN at 0x004";
  std::memcpy(&u32, bytes.data() + 0x008, 4);
  EXPECT_EQ(u32, 0x00A00F11u) << "FMS at 0x008";
  EXPECT_EQ(bytes[0x010], 0x77) << "GOSVW at 0x010";
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(std::equal((*keys)[i].begin(), (*keys)[i].end(), bytes.begin() + 0x20 + 32 * i))
        << "VMPCK" << i << " at 0x" << std::hex << 0x20 + 32 * i;
  }
  std::memcpy(&u32, bytes.data() + 0x160, 4);
  EXPECT_EQ(u32, 0x1234u) << "TSC factor at 0x160";
  EXPECT_TRUE(std::all_of(bytes.begin() + 0xA0, bytes.begin() + 0x160, [](uint8_t b) {
    return b == 0;
  })) << "OS area, tweak bitmap and SVSM fields start zero";
  EXPECT_TRUE(std::all_of(bytes.begin() + 0x164, bytes.end(), [](uint8_t b) { return b == 0; }));
  auto back = parse_secrets_page(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->vmpck, *keys);
  EXPECT_EQ(back->fms, in.fms);
  EXPECT_EQ(parse_secrets_page(std::vector<uint8_t>(4095)).error().message,
            "secrets page is 4095 bytes, expected 4096");
}

}  // namespace
}  // namespace snpemu::fw
