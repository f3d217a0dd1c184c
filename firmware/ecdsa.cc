// firmware/ecdsa.cc: ECDSA P-384 with SHA-384 as the SNP firmware uses it: verification of
// report signatures and deterministic (RFC 6979) signing, from libcrypto primitives only.
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {
namespace {

using SigPtr = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
constexpr int kQlen = 48;  // P-384 order and SHA-384 output: 384 bits

FwError bad_signature(std::string message) {
  return ossl::error(ErrorKind::kBadSignature, Status::kBadSignature, std::move(message));
}

// HMAC-SHA-384 over the concatenation of `parts`.
std::expected<Digest384, FwError> hmac(const Digest384& key,
                                       std::initializer_list<std::span<const uint8_t>> parts) {
  std::vector<uint8_t> data;
  for (auto p : parts) data.insert(data.end(), p.begin(), p.end());
  Digest384 out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha384(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           out.data(), &len) == nullptr ||
      len != out.size()) {
    return std::unexpected(ossl::crypto_error("HMAC-SHA384"));
  }
  return out;
}

}  // namespace

Digest384 sha384(std::span<const uint8_t> data) {
  Digest384 out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha384(), nullptr) != 1 ||
      len != out.size()) {
    std::abort();  // only on allocation failure inside libcrypto: a host problem, not input
  }
  return out;
}

std::expected<void, FwError> ecdsa_p384_verify(std::span<const uint8_t> message,
                                               const EcdsaSignature& signature,
                                               const VerifyingKey& key) {
  if (!key.is_p384()) {
    return std::unexpected(ossl::error(ErrorKind::kBadCertificate, Status::kInvalidCertificate,
                                       "verifying key is not an EC P-384 key"));
  }
  // R and S are little-endian in the report (PLATFORM-FACTS 8.4); libcrypto wants DER.
  ossl::BnPtr r(BN_lebin2bn(signature.r.data(), static_cast<int>(signature.r.size()), nullptr));
  ossl::BnPtr s(BN_lebin2bn(signature.s.data(), static_cast<int>(signature.s.size()), nullptr));
  SigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return std::unexpected(ossl::crypto_error("ECDSA_SIG allocation"));
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return std::unexpected(ossl::crypto_error("ECDSA_SIG_set0"));
  }
  (void)r.release();  // now owned by sig
  (void)s.release();
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) return std::unexpected(ossl::crypto_error("i2d_ECDSA_SIG"));
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> der_owner(
      der, [](unsigned char* p) { OPENSSL_free(p); });
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return std::unexpected(ossl::crypto_error("EVP_MD_CTX_new"));
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key.get()) != 1) {
    return std::unexpected(ossl::crypto_error("EVP_DigestVerifyInit"));
  }
  int ok = EVP_DigestVerify(ctx.get(), der, static_cast<size_t>(der_len), message.data(),
                            message.size());
  if (ok != 1)
    return std::unexpected(bad_signature("ECDSA P-384/SHA-384 signature does not verify"));
  ERR_clear_error();
  return {};
}

std::expected<void, FwError> verify_report_signature(std::span<const uint8_t> report_bytes,
                                                     const VerifyingKey& key) {
  auto report = parse_report(report_bytes);
  if (!report) return std::unexpected(report.error());
  // The signature field's bytes after R and S are zero (PLATFORM-FACTS 8.6); they are not
  // signed, so checking them is what makes every single-bit corruption of a report detectable.
  const auto& rsv = report->signature.reserved;
  if (std::any_of(rsv.begin(), rsv.end(), [](uint8_t b) { return b != 0; })) {
    return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kBadSignature,
                                       "attestation report signature reserved bytes "
                                       "(0x330-0x49F) are not zero"));
  }
  return ecdsa_p384_verify(report_bytes.first(kReportSignedSize), report->signature, key);
}

std::expected<EcdsaSignature, FwError> ecdsa_p384_sign_rfc6979(
    const std::array<uint8_t, 48>& private_key_be, const Digest384& digest,
    std::array<uint8_t, 48>* k_out) {
  auto group = ossl::p384_group();
  if (!group) return std::unexpected(group.error());
  const BIGNUM* n = EC_GROUP_get0_order(group->get());
  ossl::BnCtxPtr bn_ctx(BN_CTX_new());
  ossl::BnPtr d(BN_bin2bn(private_key_be.data(), kQlen, nullptr));
  ossl::BnPtr e(BN_bin2bn(digest.data(), kQlen, nullptr));  // bits2int(h1): qlen == hlen
  ossl::BnPtr k(BN_new()), r(BN_new()), s(BN_new()), kinv(BN_new()), tmp(BN_new());
  ossl::EcPointPtr point(EC_POINT_new(group->get()));
  if (!bn_ctx || !d || !e || !k || !r || !s || !kinv || !tmp || !point) {
    return std::unexpected(ossl::crypto_error("BN/EC allocation"));
  }
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), n) >= 0) {
    return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kInvalidKey,
                                       "P-384 private scalar not in [1, n-1]"));
  }
  BN_set_flags(d.get(), BN_FLG_CONSTTIME);
  BN_set_flags(k.get(), BN_FLG_CONSTTIME);
  // RFC 6979 3.2: bits2octets(h1) = int2octets(bits2int(h1) mod q).
  if (BN_nnmod(e.get(), e.get(), n, bn_ctx.get()) != 1) {
    return std::unexpected(ossl::crypto_error("BN_nnmod"));
  }
  std::array<uint8_t, kQlen> h_octets{};
  if (BN_bn2binpad(e.get(), h_octets.data(), kQlen) != kQlen) {
    return std::unexpected(ossl::crypto_error("BN_bn2binpad"));
  }
  const std::array<uint8_t, 1> zero{0x00}, one{0x01};
  Digest384 v{}, key{};
  v.fill(0x01);                          // 3.2 b, c
  for (const auto& sep : {zero, one}) {  // 3.2 d-g
    auto kk = hmac(key, {v, sep, private_key_be, h_octets});
    if (!kk) return std::unexpected(kk.error());
    key = *kk;
    auto vv = hmac(key, {v});
    if (!vv) return std::unexpected(vv.error());
    v = *vv;
  }
  for (int attempt = 0; attempt < 64; ++attempt) {  // 3.2 h; a retry is astronomically rare
    auto vv = hmac(key, {v});
    if (!vv) return std::unexpected(vv.error());
    v = *vv;  // T = V, since hlen == qlen
    if (BN_bin2bn(v.data(), kQlen, k.get()) == nullptr) {
      return std::unexpected(ossl::crypto_error("BN_bin2bn"));
    }
    bool usable = !BN_is_zero(k.get()) && BN_cmp(k.get(), n) < 0;
    if (usable) {
      // r = x(kG) mod n; s = k^-1 (e + r d) mod n
      if (EC_POINT_mul(group->get(), point.get(), k.get(), nullptr, nullptr, bn_ctx.get()) != 1 ||
          EC_POINT_get_affine_coordinates(group->get(), point.get(), r.get(), nullptr,
                                          bn_ctx.get()) != 1 ||
          BN_nnmod(r.get(), r.get(), n, bn_ctx.get()) != 1 ||
          BN_mod_inverse(kinv.get(), k.get(), n, bn_ctx.get()) == nullptr ||
          BN_mod_mul(tmp.get(), r.get(), d.get(), n, bn_ctx.get()) != 1 ||
          BN_mod_add(tmp.get(), tmp.get(), e.get(), n, bn_ctx.get()) != 1 ||
          BN_mod_mul(s.get(), kinv.get(), tmp.get(), n, bn_ctx.get()) != 1) {
        return std::unexpected(ossl::crypto_error("ECDSA arithmetic"));
      }
      if (!BN_is_zero(r.get()) && !BN_is_zero(s.get())) {
        EcdsaSignature sig;
        if (BN_bn2lebinpad(r.get(), sig.r.data(), static_cast<int>(sig.r.size())) < 0 ||
            BN_bn2lebinpad(s.get(), sig.s.data(), static_cast<int>(sig.s.size())) < 0) {
          return std::unexpected(ossl::crypto_error("BN_bn2lebinpad"));
        }
        if (k_out != nullptr) std::copy(v.begin(), v.end(), k_out->begin());
        return sig;
      }
    }
    auto kk = hmac(key, {v, zero});  // 3.2 h.3
    if (!kk) return std::unexpected(kk.error());
    key = *kk;
  }
  return std::unexpected(ossl::crypto_error("RFC 6979 found no usable nonce"));
}

}  // namespace snpemu::fw
