// firmware/id_block.cc: the ID block and ID authentication structure of SNP_LAUNCH_FINISH, the
// firmware's public-key format and the key digests the report carries. PLATFORM-FACTS 8.4
// [3P virtee/sev-snp-measure id_block.py for layouts and what is signed].
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <bit>
#include <cstring>
#include <type_traits>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<IdBlock>);
static_assert(std::is_trivially_copyable_v<IdAuth>);

namespace {

template <class T>
std::expected<T, FwError> parse_exact(std::span<const uint8_t> bytes, const char* what) {
  if (bytes.size() != sizeof(T)) {
    return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidLength,
                                       std::string(what) + " is " + std::to_string(bytes.size()) +
                                           " bytes, expected " + std::to_string(sizeof(T))));
  }
  T value;
  std::memcpy(static_cast<void*>(&value), bytes.data(), sizeof(T));
  return value;
}

template <class T>
std::array<uint8_t, sizeof(T)> image_of(const T& value) {
  std::array<uint8_t, sizeof(T)> out;
  std::memcpy(out.data(), &value, sizeof(T));
  return out;
}

// Re-labels an error from a nested check with the structure it concerns.
FwError relabel(FwError e, Status status, const std::string& what) {
  e.status = status;
  e.message = what + ": " + e.message;
  return e;
}

}  // namespace

std::expected<SnpPublicKey, FwError> to_snp_public_key(const VerifyingKey& key) {
  if (!key.is_p384()) {
    return std::unexpected(ossl::error(ErrorKind::kBadCertificate, Status::kInvalidCertificate,
                                       "key is not an EC P-384 key"));
  }
  BIGNUM* px = nullptr;  // allocated by EVP_PKEY_get_bn_param
  BIGNUM* py = nullptr;
  int ok_x = EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &px);
  int ok_y = EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &py);
  ossl::BnPtr x(px), y(py);
  if (ok_x != 1 || ok_y != 1 || !x || !y) {
    return std::unexpected(ossl::crypto_error("EC public coordinates"));
  }
  SnpPublicKey out;
  out.curve = kCurveP384;
  if (BN_bn2lebinpad(x.get(), out.qx.data(), static_cast<int>(out.qx.size())) < 0 ||
      BN_bn2lebinpad(y.get(), out.qy.data(), static_cast<int>(out.qy.size())) < 0) {
    return std::unexpected(ossl::crypto_error("BN_bn2lebinpad"));
  }
  return out;
}

std::expected<VerifyingKey, FwError> from_snp_public_key(const SnpPublicKey& key) {
  if (key.curve != kCurveP384) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadAlgorithm, Status::kInvalidParam,
                    "public key curve " + std::to_string(key.curve) + ", expected 2 (P-384)"));
  }
  auto group = ossl::p384_group();
  if (!group) return std::unexpected(group.error());
  ossl::BnPtr x(BN_lebin2bn(key.qx.data(), static_cast<int>(key.qx.size()), nullptr));
  ossl::BnPtr y(BN_lebin2bn(key.qy.data(), static_cast<int>(key.qy.size()), nullptr));
  ossl::EcPointPtr point(EC_POINT_new(group->get()));
  ossl::BnCtxPtr ctx(BN_CTX_new());
  if (!x || !y || !point || !ctx) return std::unexpected(ossl::crypto_error("BN/EC allocation"));
  // Rejects coordinates >= p and points off the curve.
  if (EC_POINT_set_affine_coordinates(group->get(), point.get(), x.get(), y.get(), ctx.get()) !=
      1) {
    return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                                       "public key (Qx, Qy) is not a point on P-384"));
  }
  std::array<uint8_t, 97> pub{};
  if (EC_POINT_point2oct(group->get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, pub.data(),
                         pub.size(), ctx.get()) != pub.size()) {
    return std::unexpected(ossl::crypto_error("EC_POINT_point2oct"));
  }
  auto pkey = ossl::p384_public_pkey(pub);
  if (!pkey) return std::unexpected(pkey.error());
  return VerifyingKey(*pkey);
}

Digest384 key_digest(const SnpPublicKey& key) { return sha384(image_of(key)); }

std::array<uint8_t, sizeof(IdBlock)> serialize_id_block(const IdBlock& block) {
  return image_of(block);
}
std::expected<IdBlock, FwError> parse_id_block(std::span<const uint8_t> bytes) {
  return parse_exact<IdBlock>(bytes, "ID block");
}
std::array<uint8_t, sizeof(IdAuth)> serialize_id_auth(const IdAuth& auth) { return image_of(auth); }
std::expected<IdAuth, FwError> parse_id_auth(std::span<const uint8_t> bytes) {
  return parse_exact<IdAuth>(bytes, "ID authentication structure");
}

std::expected<IdCheckResult, FwError> check_id_block(const IdBlock& block, const IdAuth& auth,
                                                     bool auth_key_en,
                                                     const Digest384& launch_digest,
                                                     uint64_t policy) {
  if (auth.id_key_algo != kSigAlgoEcdsaP384Sha384 ||
      (auth_key_en && auth.auth_key_algo != kSigAlgoEcdsaP384Sha384)) {
    return std::unexpected(ossl::error(
        ErrorKind::kBadAlgorithm, Status::kInvalidParam,
        "ID auth key algorithms " + std::to_string(auth.id_key_algo) + "/" +
            std::to_string(auth.auth_key_algo) + ", expected 1 (ECDSA P-384 with SHA-384)"));
  }
  if (block.version != 1) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadVersion, Status::kInvalidParam,
                    "ID block VERSION " + std::to_string(block.version) + ", expected 1"));
  }
  auto id_key = from_snp_public_key(auth.id_key);
  if (!id_key) return std::unexpected(relabel(id_key.error(), Status::kInvalidParam, "ID key"));
  if (auto v = ecdsa_p384_verify(serialize_id_block(block), auth.id_block_sig, *id_key); !v) {
    return std::unexpected(relabel(v.error(), Status::kBadSignature, "ID block signature"));
  }
  IdCheckResult result;
  result.block = block;
  result.id_key_digest = key_digest(auth.id_key);
  if (auth_key_en) {
    auto author = from_snp_public_key(auth.author_key);
    if (!author) {
      return std::unexpected(relabel(author.error(), Status::kInvalidParam, "author key"));
    }
    if (auto v = ecdsa_p384_verify(image_of(auth.id_key), auth.id_key_sig, *author); !v) {
      return std::unexpected(relabel(v.error(), Status::kBadSignature, "ID key signature"));
    }
    result.author_key_digest = key_digest(auth.author_key);
  }
  if (block.ld != launch_digest) {
    return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kBadMeasurement,
                                       "ID block LD differs from the launch digest"));
  }
  if (block.policy != policy) {
    return std::unexpected(ossl::error(
        ErrorKind::kPolicyFailure, Status::kPolicyFailure,
        "ID block POLICY " + hex(block.policy) + " differs from the guest policy " + hex(policy)));
  }
  return result;
}

}  // namespace snpemu::fw
