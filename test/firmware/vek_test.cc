// The VM encryption key of a guest context and the memory controller's key slots: derive_vek
// follows its documented formula (recomputed with an independent libcrypto HKDF interface), is
// deterministic and differs per context and per seed; SNP_ACTIVATE installs the VEK in the
// ASID's slot, SNP_DECOMMISSION removes it (KeyTable::generation moves each time); ACTIVATE
// refuses an ASID without a slot or with a slot it did not program; a firmware without a
// KeyTable programs nothing. Firmware.h, vek.cc and mailbox section.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstring>
#include <string_view>

#include "base/hex.h"
#include "emu/memcrypt/memcrypt.h"
#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"

namespace snpemu::fw {
namespace {

using test::Host;

constexpr Hpa kGctx{0x10000};
constexpr Hpa kGctx2{0x11000};

// HKDF-SHA-384 through EVP_PKEY_derive (the firmware uses EVP_KDF): the formula of derive_vek.
memcrypt::Key independent_vek(std::span<const uint8_t> ikm, uint64_t guest_id, uint64_t pfn) {
  uint8_t info[22] = {'V', 'E', 'K', ' ', 'v', '1'};
  for (int i = 0; i < 8; ++i) {
    info[6 + i] = static_cast<uint8_t>(guest_id >> (8 * i));
    info[14 + i] = static_cast<uint8_t>(pfn >> (8 * i));
  }
  const std::string_view salt = "snpemu VEK";
  uint8_t okm[16] = {};
  size_t len = sizeof okm;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  const bool ok =
      ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
      EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha384()) == 1 &&
      EVP_PKEY_CTX_set1_hkdf_salt(ctx, reinterpret_cast<const unsigned char*>(salt.data()),
                                  static_cast<int>(salt.size())) == 1 &&
      EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm.data(), static_cast<int>(ikm.size())) == 1 &&
      EVP_PKEY_CTX_add1_hkdf_info(ctx, info, sizeof info) == 1 &&
      EVP_PKEY_derive(ctx, okm, &len) == 1;
  EVP_PKEY_CTX_free(ctx);
  EXPECT_TRUE(ok);
  memcrypt::Key k;
  for (int i = 0; i < 8; ++i) {
    k.lo |= uint64_t{okm[i]} << (8 * i);
    k.hi |= uint64_t{okm[8 + i]} << (8 * i);
  }
  return k;
}

std::string key_text(const std::optional<memcrypt::Key>& k) {
  return k ? hex(k->hi) + ":" + hex(k->lo) : "none";
}

TEST(Vek, DerivationMatchesDocumentedFormula) {
  const std::vector<uint8_t> seed(32, 0x5A);
  for (uint64_t guest_id : {uint64_t{1}, uint64_t{2}, uint64_t{0x0102030405060708}}) {
    for (uint64_t pfn : {uint64_t{0x10}, uint64_t{0xFFFFF}}) {
      auto k = derive_vek(seed, guest_id, Pfn{pfn});
      ASSERT_TRUE(k.has_value()) << k.error().message;
      EXPECT_EQ(key_text(*k), key_text(independent_vek(seed, guest_id, pfn)))
          << "guest_id " << guest_id << " pfn " << hex(pfn) << " seed 32 x 0x5a";
    }
  }
}

TEST(Vek, DiffersPerContextAndPerSeedAndRejectsShortSeeds) {
  const std::vector<uint8_t> seed(32, 0x5A), other(32, 0x5B);
  const auto a = derive_vek(seed, 1, Pfn{0x10}), b = derive_vek(seed, 2, Pfn{0x10}),
             c = derive_vek(seed, 1, Pfn{0x11}), d = derive_vek(other, 1, Pfn{0x10});
  ASSERT_TRUE(a && b && c && d);
  EXPECT_NE(*a, *b) << "guest id";
  EXPECT_NE(*a, *c) << "context page";
  EXPECT_NE(*a, *d) << "platform seed";
  EXPECT_EQ(*a, *derive_vek(seed, 1, Pfn{0x10})) << "deterministic";
  auto short_seed = derive_vek(std::vector<uint8_t>(15, 1), 1, Pfn{0x10});
  ASSERT_FALSE(short_seed.has_value());
  EXPECT_EQ(short_seed.error().kind, ErrorKind::kBadLength);
}

TEST(KeySlots, ActivateInstallsTheVekAndDecommissionRemovesIt) {
  Host h = Host::make_encrypted();
  const Asid asid{3};
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.gctx_create(kGctx), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.launch_start(kGctx), Status::kSuccess) << h.fw->last_error();
  EXPECT_FALSE(h.keys->key(asid).has_value()) << "no key before SNP_ACTIVATE";
  EXPECT_EQ(h.keys->generation(asid), 0u);
  ASSERT_EQ(h.activate(kGctx, asid), Status::kSuccess) << h.fw->last_error();
  const auto vek = derive_vek(test::test_seed(), h.fw->guest(kGctx)->guest_id, pfn_of(kGctx));
  ASSERT_TRUE(vek.has_value());
  EXPECT_EQ(key_text(h.keys->key(asid)), key_text(*vek)) << "slot of ASID 3 after SNP_ACTIVATE";
  EXPECT_EQ(h.keys->generation(asid), 1u) << "one install";
  EXPECT_FALSE(h.keys->key(Asid{2}).has_value()) << "other slots untouched";
  EXPECT_TRUE(h.fw->check_invariants().empty());
  ASSERT_EQ(h.decommission(kGctx), Status::kSuccess) << h.fw->last_error();
  EXPECT_FALSE(h.keys->key(asid).has_value()) << "slot of ASID 3 after SNP_DECOMMISSION";
  EXPECT_EQ(h.keys->generation(asid), 2u) << "one install, one removal";
}

TEST(KeySlots, DecommissionBeforeActivateTouchesNoSlot) {
  Host h = Host::make_encrypted();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.gctx_create(kGctx), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.decommission(kGctx), Status::kSuccess) << h.fw->last_error();
  for (uint32_t a = 0; a <= 8; ++a) {
    EXPECT_EQ(h.keys->generation(Asid{a}), 0u) << "slot of ASID " << a;
  }
}

TEST(KeySlots, TwoContextsGetDifferentKeysAndAReusedAsidANewOne) {
  Host h = Host::make_encrypted();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.start_guest(kGctx, Asid{1}), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.start_guest(kGctx2, Asid{2}), Status::kSuccess) << h.fw->last_error();
  const auto k1 = h.keys->key(Asid{1}), k2 = h.keys->key(Asid{2});
  ASSERT_TRUE(k1 && k2);
  EXPECT_NE(*k1, *k2) << "two guest contexts share a VEK";
  EXPECT_TRUE(h.fw->check_invariants().empty());
  // Decommission the first; after DF_FLUSH a new context gets ASID 1 again, with a new key
  // (the GCTX_CREATE serial number differs even for the same context page).
  ASSERT_EQ(h.decommission(kGctx), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.reclaim(kGctx), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.make_shared(kGctx), rmp::RmpRc::kSuccess);
  h.fw->note_wbinvd_all_cpus();
  ASSERT_EQ(h.run(CommandId::kSnpDfFlush), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.start_guest(kGctx, Asid{1}), Status::kSuccess) << h.fw->last_error();
  const auto k3 = h.keys->key(Asid{1});
  ASSERT_TRUE(k3.has_value());
  EXPECT_NE(*k3, *k1) << "a new context on a reused ASID and context page got the old key";
  EXPECT_EQ(key_text(h.keys->key(Asid{2})), key_text(k2)) << "the other guest's slot";
}

TEST(KeySlots, SameSeedSameKeysOtherSeedOtherKeys) {
  auto keys_of = [](FirmwareConfig config) {
    Host h = Host::make_encrypted(std::move(config));
    EXPECT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
    EXPECT_EQ(h.start_guest(kGctx, Asid{1}), Status::kSuccess) << h.fw->last_error();
    EXPECT_EQ(h.start_guest(kGctx2, Asid{2}), Status::kSuccess) << h.fw->last_error();
    return std::pair{h.keys->key(Asid{1}), h.keys->key(Asid{2})};
  };
  const auto a = keys_of(test::test_config());
  const auto b = keys_of(test::test_config());
  FirmwareConfig other = test::test_config();
  other.platform_seed.back() ^= 1;
  const auto c = keys_of(std::move(other));
  ASSERT_TRUE(a.first && a.second && c.first);
  EXPECT_EQ(key_text(a.first), key_text(b.first)) << "seed snpemu-test-seed-0001, ASID 1";
  EXPECT_EQ(key_text(a.second), key_text(b.second)) << "seed snpemu-test-seed-0001, ASID 2";
  EXPECT_NE(key_text(a.first), key_text(c.first)) << "a one-bit seed change keeps the key";
}

TEST(KeySlots, ActivateRefusesAnAsidWithoutASlot) {
  Host h = Host::make_encrypted(test::test_config(), /*max_key_asid=*/4);
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.gctx_create(kGctx), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.launch_start(kGctx), Status::kSuccess) << h.fw->last_error();
  const Digest384 before = h.fw->fingerprint();
  EXPECT_EQ(h.activate(kGctx, Asid{5}), Status::kInvalidAsid)
      << "ASID 5 is within the firmware's range (509) but the memory controller has 0..4";
  EXPECT_EQ(h.fw->fingerprint(), before);
  EXPECT_EQ(h.fw->guest(kGctx)->asid.value, 0u);
  EXPECT_EQ(h.activate(kGctx, Asid{4}), Status::kSuccess) << h.fw->last_error();
  EXPECT_TRUE(h.keys->key(Asid{4}).has_value());
}

TEST(KeySlots, ActivateRefusesASlotItDidNotProgram) {
  Host h = Host::make_encrypted();
  constexpr memcrypt::Key kForeign{0x1111, 0x2222};
  h.keys->install(Asid{6}, kForeign);  // e.g. a legacy SEV guest's key
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.gctx_create(kGctx), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.launch_start(kGctx), Status::kSuccess) << h.fw->last_error();
  const Digest384 before = h.fw->fingerprint();
  EXPECT_EQ(h.activate(kGctx, Asid{6}), Status::kAsidOwned);
  EXPECT_EQ(h.fw->fingerprint(), before);
  EXPECT_EQ(key_text(h.keys->key(Asid{6})), key_text(kForeign)) << "foreign key left in place";
  EXPECT_EQ(h.keys->generation(Asid{6}), 1u);
}

TEST(KeySlots, InvariantsNoticeATamperedSlot) {
  Host h = Host::make_encrypted();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.start_guest(kGctx, Asid{1}), Status::kSuccess) << h.fw->last_error();
  ASSERT_TRUE(h.fw->check_invariants().empty());
  h.keys->install(Asid{1}, memcrypt::Key{1, 2});
  const auto broken = h.fw->check_invariants();
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_NE(broken[0].find("key slot of ASID 1"), std::string::npos) << broken[0];
  h.keys->remove(Asid{1});
  EXPECT_EQ(h.fw->check_invariants().size(), 1u) << "an empty slot for a bound ASID";
}

TEST(KeySlots, WithoutAKeyTableNothingIsProgrammedAndMemoryStaysPlain) {
  Host h = Host::make();
  EXPECT_FALSE(h.fw->encrypts_memory());
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.start_guest(kGctx, Asid{1}), Status::kSuccess) << h.fw->last_error();
  std::vector<uint8_t> page(kPageSize);
  for (size_t i = 0; i < page.size(); ++i) page[i] = static_cast<uint8_t>(i * 3);
  h.write(Hpa{0x200000}, page);
  ASSERT_EQ(h.make_pre_guest(Hpa{0x200000}, Asid{1}, Gpa{0}), rmp::RmpRc::kSuccess);
  ASSERT_EQ(h.launch_update(kGctx, Hpa{0x200000}, PageType::kNormal), Status::kSuccess);
  EXPECT_EQ(h.read(Hpa{0x200000}, kPageSize), page) << "NORMAL page at hpa 0x200000";
  EXPECT_EQ(h.fw->last_work().pages_encrypted, 0u);
  EXPECT_EQ(h.fw->last_work().pages_written, 0u);
}

}  // namespace
}  // namespace snpemu::fw
