// firmware/ossl.h: package-private glue around OpenSSL 3.0 libcrypto: owning pointers, error
// values carrying OpenSSL's reason string, HKDF, and the P-384 group.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/hex.h"
#include "firmware/firmware.h"

namespace snpemu::fw::ossl {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX, BN_CTX_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP, EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT, EC_POINT_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;

/// An error value; for kCrypto the message gets OpenSSL's first queued reason appended. Always
/// clears OpenSSL's thread-local error queue so that no stale error leaks into a later call.
FwError error(ErrorKind kind, Status status, std::string message);
/// Shorthand for an unexpected libcrypto failure (allocation or internal error).
FwError crypto_error(std::string what);

/// Takes ownership of `key` (may be null -> null) as a shared pointer freeing with EVP_PKEY_free.
std::shared_ptr<evp_pkey_st> share_pkey(EVP_PKEY* key);

/// HKDF-SHA-384 (RFC 5869) extract-and-expand into `out`.
std::expected<void, FwError> hkdf_sha384(std::span<const uint8_t> ikm,
                                         std::span<const uint8_t> salt,
                                         std::span<const uint8_t> info, std::span<uint8_t> out);

/// A fresh P-384 (secp384r1) group.
std::expected<EcGroupPtr, FwError> p384_group();

/// An EVP_PKEY holding the P-384 public key given as an uncompressed point (04 || X || Y).
std::expected<std::shared_ptr<evp_pkey_st>, FwError> p384_public_pkey(
    std::span<const uint8_t, 97> uncompressed_point);

/// Bytes of a string literal, without its terminating NUL.
inline std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace snpemu::fw::ossl
