// firmware/vcek.cc: the model VCEK, a P-384 key derived deterministically from a platform seed.
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

std::expected<ModelVcek, FwError> ModelVcek::derive(std::span<const uint8_t> platform_seed) {
  if (platform_seed.size() < kMinSeedSize) {
    return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidParam,
                                       "platform seed is " + std::to_string(platform_seed.size()) +
                                           " bytes, at least " + std::to_string(kMinSeedSize) +
                                           " required"));
  }
  // 64 bytes = 384 + 128 bits: reducing them mod n-1 has a negligible bias (FIPS 186-5 A.2.1).
  std::array<uint8_t, 64> okm{};
  if (auto r = ossl::hkdf_sha384(platform_seed, ossl::bytes_of("snpemu model VCEK"),
                                 ossl::bytes_of("P-384 d v1"), okm);
      !r) {
    return std::unexpected(r.error());
  }
  auto group = ossl::p384_group();
  if (!group) return std::unexpected(group.error());
  ossl::BnCtxPtr ctx(BN_CTX_new());
  ossl::BnPtr c(BN_bin2bn(okm.data(), static_cast<int>(okm.size()), nullptr));
  ossl::BnPtr n_minus_1(BN_dup(EC_GROUP_get0_order(group->get())));
  ossl::BnPtr d(BN_new());
  if (!ctx || !c || !n_minus_1 || !d || BN_sub_word(n_minus_1.get(), 1) != 1 ||
      BN_nnmod(d.get(), c.get(), n_minus_1.get(), ctx.get()) != 1 || BN_add_word(d.get(), 1) != 1) {
    return std::unexpected(ossl::crypto_error("VCEK scalar reduction"));
  }
  std::array<uint8_t, 48> d_be{};
  if (BN_bn2binpad(d.get(), d_be.data(), static_cast<int>(d_be.size())) < 0) {
    return std::unexpected(ossl::crypto_error("BN_bn2binpad"));
  }
  return from_private_scalar(d_be);
}

std::expected<ModelVcek, FwError> ModelVcek::from_private_scalar(
    const std::array<uint8_t, 48>& d_be) {
  auto group = ossl::p384_group();
  if (!group) return std::unexpected(group.error());
  ossl::BnCtxPtr ctx(BN_CTX_new());
  ossl::BnPtr d(BN_bin2bn(d_be.data(), static_cast<int>(d_be.size()), nullptr));
  ossl::EcPointPtr q(EC_POINT_new(group->get()));
  if (!ctx || !d || !q) return std::unexpected(ossl::crypto_error("BN/EC allocation"));
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group->get())) >= 0) {
    return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kInvalidKey,
                                       "P-384 private scalar not in [1, n-1]"));
  }
  BN_set_flags(d.get(), BN_FLG_CONSTTIME);
  std::array<uint8_t, 97> pub{};  // uncompressed point: 04 || X || Y
  if (EC_POINT_mul(group->get(), q.get(), d.get(), nullptr, nullptr, ctx.get()) != 1 ||
      EC_POINT_point2oct(group->get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, pub.data(),
                         pub.size(), ctx.get()) != pub.size()) {
    return std::unexpected(ossl::crypto_error("public point computation"));
  }
  auto pkey = ossl::p384_public_pkey(pub);
  if (!pkey) return std::unexpected(pkey.error());
  return ModelVcek(d_be, VerifyingKey(*pkey));
}

std::expected<EcdsaSignature, FwError> ModelVcek::sign(std::span<const uint8_t> message) const {
  return ecdsa_p384_sign_rfc6979(d_be_, sha384(message));
}

std::expected<void, FwError> ModelVcek::sign_report(AttestationReport& report) const {
  report.signature_algo = kSigAlgoEcdsaP384Sha384;
  report.signature = EcdsaSignature{};
  auto bytes = serialize_report(report);
  auto sig = sign(std::span<const uint8_t>(bytes).first(kReportSignedSize));
  if (!sig) return std::unexpected(sig.error());
  report.signature = *sig;
  return {};
}

std::vector<uint8_t> platform_seed_from_machine_seed(uint64_t machine_seed) {
  const auto tag = ossl::bytes_of("snpemu platform seed v1");
  std::vector<uint8_t> input(tag.begin(), tag.end());
  for (int i = 0; i < 8; ++i) input.push_back(static_cast<uint8_t>(machine_seed >> (8 * i)));
  const Digest384 d = sha384(input);
  return std::vector<uint8_t>(d.begin(), d.end());
}

}  // namespace snpemu::fw
