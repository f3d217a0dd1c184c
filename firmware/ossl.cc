// firmware/ossl.cc: OpenSSL glue: error values, HKDF-SHA-384, the P-384 group.
#include "firmware/ossl.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include <cstdio>
#include <utility>

namespace snpemu::fw::ossl {

FwError error(ErrorKind kind, Status status, std::string message) {
  if (kind == ErrorKind::kCrypto) {
    unsigned long code = ERR_peek_error();
    if (code != 0) {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof(buf));
      message += " (";
      message += buf;
      message += ")";
    }
  }
  ERR_clear_error();
  return FwError{kind, status, std::move(message)};
}

FwError crypto_error(std::string what) {
  return error(ErrorKind::kCrypto, Status::kHwerrorPlatform, "libcrypto failure: " + what);
}

std::expected<std::shared_ptr<evp_pkey_st>, FwError> p384_public_pkey(
    std::span<const uint8_t, 97> uncompressed_point) {
  char group_name[] = "secp384r1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<uint8_t*>(uncompressed_point.data()),
                                        uncompressed_point.size()),
      OSSL_PARAM_construct_end(),
  };
  PkeyCtxPtr pctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!pctx || EVP_PKEY_fromdata_init(pctx.get()) != 1 ||
      EVP_PKEY_fromdata(pctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return std::unexpected(crypto_error("EVP_PKEY_fromdata"));
  }
  return share_pkey(pkey);
}

std::shared_ptr<evp_pkey_st> share_pkey(EVP_PKEY* key) {
  return std::shared_ptr<evp_pkey_st>(key, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

std::expected<void, FwError> hkdf_sha384(std::span<const uint8_t> ikm,
                                         std::span<const uint8_t> salt,
                                         std::span<const uint8_t> info, std::span<uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return std::unexpected(crypto_error("EVP_KDF_fetch(HKDF)"));
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return std::unexpected(crypto_error("EVP_KDF_CTX_new"));
  char digest[] = "SHA384";
  // OSSL_PARAM takes non-const pointers; the KDF only reads them.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end(),
  };
  int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) return std::unexpected(crypto_error("HKDF-SHA384 derive"));
  return {};
}

std::expected<EcGroupPtr, FwError> p384_group() {
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_secp384r1));
  if (!group) return std::unexpected(crypto_error("EC_GROUP_new_by_curve_name(secp384r1)"));
  return group;
}

}  // namespace snpemu::fw::ossl
