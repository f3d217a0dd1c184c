// The guest's integer-only AES-256 / AES-256-GCM (ghcb/guest/aes_gcm.c, native build) against
// published vectors and OpenSSL's EVP AES-256-GCM: FIPS-197 Appendix C.3 (AES-256 block), the
// GCM spec's 256-bit-key test cases 13-16 (McGrew & Viega, "The Galois/Counter Mode of Operation
// (GCM)", revised 2005, appendix B; the vectors NIST SP 800-38D's validation refers to), seeded
// random cases, and tampered tag / ciphertext / AAD.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ghcb/guest/ghcb_guest.h"
#include "test/util/splitmix64.h"

namespace snpemu::test {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes from_hex(const std::string& h) {
  Bytes out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}
std::string to_hex(const Bytes& b) { return to_hex(b.data(), b.size()); }

struct Sealed {
  Bytes ct;
  std::array<uint8_t, 16> tag{};
};

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// OpenSSL's AES-256-GCM, 12-byte IV, 16-byte tag: the oracle.
Sealed openssl_seal(const Bytes& key, const Bytes& iv, const Bytes& aad, const Bytes& pt) {
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> c(EVP_CIPHER_CTX_new());
  Sealed out;
  out.ct.resize(pt.size());
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, key.data(), iv.data()), 1);
  if (!aad.empty()) {
    EXPECT_EQ(EVP_EncryptUpdate(c.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())),
              1);
  }
  if (!pt.empty()) {
    EXPECT_EQ(
        EVP_EncryptUpdate(c.get(), out.ct.data(), &len, pt.data(), static_cast<int>(pt.size())), 1);
  }
  EXPECT_EQ(EVP_EncryptFinal_ex(c.get(), out.ct.data() + out.ct.size(), &len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, 16, out.tag.data()), 1);
  return out;
}

Sealed guest_seal(const Bytes& key, const Bytes& iv, const Bytes& aad, const Bytes& pt) {
  Sealed out;
  out.ct.resize(pt.size());
  ghcb_aes256_gcm_seal(key.data(), iv.data(), aad.empty() ? nullptr : aad.data(), aad.size(),
                       pt.empty() ? nullptr : pt.data(), pt.size(),
                       out.ct.empty() ? nullptr : out.ct.data(), out.tag.data());
  return out;
}

// Opens with the guest code into a buffer pre-filled with 0xEE; returns {ok, buffer}.
std::pair<int, Bytes> guest_open(const Bytes& key, const Bytes& iv, const Bytes& aad,
                                 const Bytes& ct, const uint8_t* tag) {
  Bytes pt(ct.size(), 0xEE);
  const int ok = ghcb_aes256_gcm_open(key.data(), iv.data(), aad.empty() ? nullptr : aad.data(),
                                      aad.size(), ct.empty() ? nullptr : ct.data(), ct.size(), tag,
                                      pt.empty() ? nullptr : pt.data());
  return {ok, pt};
}

TEST(Aes256, Fips197AppendixC3) {
  const Bytes key = from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const Bytes in = from_hex("00112233445566778899aabbccddeeff");
  struct ghcb_aes256 aes;
  ghcb_aes256_init(&aes, key.data());
  uint8_t out[16];
  ghcb_aes256_encrypt_block(&aes, in.data(), out);
  EXPECT_EQ(to_hex(out, 16), "8ea2b7ca516745bfeafc49904b496089");
  // FIPS-197 5.1.1 Figure 7: S(0x00) = 0x63, S(0x53) = 0xed, S(0xff) = 0x16.
  EXPECT_EQ(aes.sbox[0x00], 0x63);
  EXPECT_EQ(aes.sbox[0x53], 0xED);
  EXPECT_EQ(aes.sbox[0xFF], 0x16);
}

TEST(Aes256, Fips197AppendixA3KeyExpansion) {
  // FIPS-197 Appendix A.3: key 603deb10...; w[8] = 9ba35411, w[59] = 706c631e (bytes in
  // written order); words hold bytes little-endian here.
  const Bytes key = from_hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  struct ghcb_aes256 aes;
  ghcb_aes256_init(&aes, key.data());
  EXPECT_EQ(aes.rk[8], 0x1154A39Bu);
  EXPECT_EQ(aes.rk[59], 0x1E636C70u);
}

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* pt;
  const char* aad;
  const char* ct;
  const char* tag;
};

// McGrew & Viega GCM spec, appendix B, test cases 13-16 (AES-256).
constexpr GcmVector kVectors[] = {
    {"case13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b"
     "525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828"
     "838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"case16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b"
     "525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828"
     "838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(Aes256Gcm, GcmSpecVectorsMatchGuestAndOpenSsl) {
  for (const GcmVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    const Bytes key = from_hex(v.key), iv = from_hex(v.iv), pt = from_hex(v.pt),
                aad = from_hex(v.aad);
    const Sealed g = guest_seal(key, iv, aad, pt);
    EXPECT_EQ(to_hex(g.ct), v.ct) << "guest ciphertext";
    EXPECT_EQ(to_hex(g.tag.data(), 16), v.tag) << "guest tag";
    const Sealed o = openssl_seal(key, iv, aad, pt);
    EXPECT_EQ(to_hex(o.ct), v.ct) << "OpenSSL ciphertext (vector transcription check)";
    EXPECT_EQ(to_hex(o.tag.data(), 16), v.tag) << "OpenSSL tag";
    auto [ok, back] = guest_open(key, iv, aad, g.ct, g.tag.data());
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(back, pt);
  }
}

TEST(Aes256Gcm, InPlaceSealAndOpen) {
  const Bytes key(32, 0x42), iv(12, 0x07), aad = from_hex("0102030405");
  Bytes buf(100);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 7);
  const Bytes pt = buf;
  uint8_t tag[16];
  ghcb_aes256_gcm_seal(key.data(), iv.data(), aad.data(), aad.size(), buf.data(), buf.size(),
                       buf.data(), tag);
  const Sealed o = openssl_seal(key, iv, aad, pt);
  EXPECT_EQ(to_hex(buf), to_hex(o.ct));
  EXPECT_EQ(to_hex(tag, 16), to_hex(o.tag.data(), 16));
  ASSERT_EQ(ghcb_aes256_gcm_open(key.data(), iv.data(), aad.data(), aad.size(), buf.data(),
                                 buf.size(), tag, buf.data()),
            1);
  EXPECT_EQ(buf, pt);
}

Bytes random_bytes(SplitMix64& rng, size_t n) {
  Bytes b(n);
  for (auto& x : b) x = rng.byte();
  return b;
}

TEST(Aes256Gcm, SeededRandomCasesMatchOpenSslAndTamperingIsRejected) {
  constexpr uint64_t kSeed = 0x5EA1'0A75'6C3D'0001ull;
  constexpr int kCases = 2000;
  SplitMix64 rng(kSeed);
  int tamper_checks = 0;
  for (int i = 0; i < kCases; ++i) {
    const Bytes key = random_bytes(rng, 32), iv = random_bytes(rng, 12);
    const Bytes aad = random_bytes(rng, rng.below(601));
    const Bytes pt = random_bytes(rng, rng.below(601));
    const std::string where = "seed " + std::to_string(kSeed) + " case " + std::to_string(i) +
                              " (aad " + std::to_string(aad.size()) + " bytes, plaintext " +
                              std::to_string(pt.size()) + " bytes)";
    const Sealed g = guest_seal(key, iv, aad, pt);
    const Sealed o = openssl_seal(key, iv, aad, pt);
    ASSERT_EQ(to_hex(g.ct), to_hex(o.ct)) << "ciphertext differs from OpenSSL, " << where;
    ASSERT_EQ(to_hex(g.tag.data(), 16), to_hex(o.tag.data(), 16))
        << "tag differs from OpenSSL, " << where;
    auto [ok, back] = guest_open(key, iv, aad, o.ct, o.tag.data());
    ASSERT_EQ(ok, 1) << "authentic message rejected, " << where;
    ASSERT_EQ(back, pt) << "decryption differs, " << where;

    // Tampering: one bit of the tag, of the ciphertext, of the AAD, or the IV.
    const Bytes untouched(pt.size(), 0xEE);
    auto tag = o.tag;
    tag[rng.below(16)] ^= static_cast<uint8_t>(1u << rng.below(8));
    auto r = guest_open(key, iv, aad, o.ct, tag.data());
    ASSERT_EQ(r.first, 0) << "tampered tag accepted, " << where;
    ASSERT_EQ(r.second, untouched) << "plaintext released on a bad tag, " << where;
    ++tamper_checks;
    if (!o.ct.empty()) {
      Bytes ct = o.ct;
      ct[rng.below(static_cast<uint32_t>(ct.size()))] ^= static_cast<uint8_t>(1u << rng.below(8));
      r = guest_open(key, iv, aad, ct, o.tag.data());
      ASSERT_EQ(r.first, 0) << "tampered ciphertext accepted, " << where;
      ASSERT_EQ(r.second, untouched) << where;
      ++tamper_checks;
    }
    if (!aad.empty()) {
      Bytes a = aad;
      a[rng.below(static_cast<uint32_t>(a.size()))] ^= static_cast<uint8_t>(1u << rng.below(8));
      r = guest_open(key, iv, a, o.ct, o.tag.data());
      ASSERT_EQ(r.first, 0) << "tampered AAD accepted, " << where;
      ++tamper_checks;
    }
    Bytes iv2 = iv;
    iv2[rng.below(12)] ^= 0x80;
    r = guest_open(key, iv2, aad, o.ct, o.tag.data());
    ASSERT_EQ(r.first, 0) << "wrong IV accepted, " << where;
    // A truncated AAD (one byte fewer) must fail too: the length block is authenticated.
    if (!aad.empty()) {
      const Bytes shorter(aad.begin(), aad.end() - 1);
      ASSERT_EQ(guest_open(key, iv, shorter, o.ct, o.tag.data()).first, 0)
          << "shortened AAD accepted, " << where;
    }
  }
  EXPECT_GE(tamper_checks, 3 * kCases - 50) << "seed " << kSeed;
}

TEST(TagEqual, ComparesEveryByte) {
  uint8_t a[16], b[16];
  for (int i = 0; i < 16; ++i) a[i] = b[i] = static_cast<uint8_t>(i * 17);
  EXPECT_EQ(ghcb_tag_equal(a, b, 16), 1);
  for (int i = 0; i < 16; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      b[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_EQ(ghcb_tag_equal(a, b, 16), 0) << "byte " << i << " bit " << bit;
      b[i] ^= static_cast<uint8_t>(1 << bit);
    }
  }
  EXPECT_EQ(ghcb_tag_equal(a, b, 0), 1);
}

}  // namespace
}  // namespace snpemu::test
