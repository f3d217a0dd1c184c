// firmware/certificate.cc: X.509 certificates and public keys (VCEK, ASK, ARK) via libcrypto.
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <limits>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {
namespace {

using BioPtr = std::unique_ptr<BIO, ossl::Deleter<BIO, BIO_free_all>>;

std::shared_ptr<x509_st> share_x509(X509* cert) {
  return std::shared_ptr<x509_st>(cert, [](X509* c) { X509_free(c); });
}

FwError bad_cert(std::string message) {
  return ossl::error(ErrorKind::kBadCertificate, Status::kInvalidCertificate, std::move(message));
}

std::string name_line(const X509_NAME* name) {
  if (name == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

}  // namespace

std::expected<VerifyingKey, FwError> VerifyingKey::from_pem(std::string_view pem) {
  if (pem.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return std::unexpected(bad_cert("public key PEM too large"));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::unexpected(ossl::crypto_error("BIO_new_mem_buf"));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return std::unexpected(bad_cert("public key PEM does not parse"));
  return VerifyingKey(ossl::share_pkey(key));
}

std::expected<std::string, FwError> VerifyingKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return std::unexpected(ossl::crypto_error("BIO_new"));
  if (PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    return std::unexpected(ossl::crypto_error("PEM_write_bio_PUBKEY"));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0) return std::unexpected(ossl::crypto_error("BIO_get_mem_data"));
  return std::string(data, static_cast<size_t>(len));
}

bool VerifyingKey::is_p384() const {
  if (EVP_PKEY_get_base_id(key_.get()) != EVP_PKEY_EC) return false;
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key_.get(), group, sizeof(group), &len) != 1) return false;
  return std::string_view(group, len) == "secp384r1";
}

std::expected<Certificate, FwError> Certificate::from_der(std::span<const uint8_t> der) {
  if (der.size() > static_cast<size_t>(std::numeric_limits<long>::max())) {
    return std::unexpected(bad_cert("certificate DER too large"));
  }
  const unsigned char* p = der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (cert == nullptr) return std::unexpected(bad_cert("certificate DER does not parse"));
  if (p != der.data() + der.size()) {
    X509_free(cert);
    return std::unexpected(bad_cert(
        "certificate DER has " + std::to_string(der.data() + der.size() - p) + " trailing bytes"));
  }
  return Certificate(share_x509(cert));
}

std::expected<Certificate, FwError> Certificate::from_pem(std::string_view pem) {
  if (pem.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return std::unexpected(bad_cert("certificate PEM too large"));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::unexpected(ossl::crypto_error("BIO_new_mem_buf"));
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr) return std::unexpected(bad_cert("certificate PEM does not parse"));
  return Certificate(share_x509(cert));
}

std::expected<VerifyingKey, FwError> Certificate::public_key() const {
  EVP_PKEY* key = X509_get_pubkey(cert_.get());  // takes a reference
  if (key == nullptr) return std::unexpected(bad_cert("certificate public key unreadable"));
  return VerifyingKey(ossl::share_pkey(key));
}

std::string Certificate::subject() const { return name_line(X509_get_subject_name(cert_.get())); }
std::string Certificate::issuer() const { return name_line(X509_get_issuer_name(cert_.get())); }

std::expected<void, FwError> Certificate::verify_issued_by(const Certificate& issuer_cert) const {
  if (X509_NAME_cmp(X509_get_issuer_name(cert_.get()), X509_get_subject_name(issuer_cert.get())) !=
      0) {
    return std::unexpected(ossl::error(ErrorKind::kBadSignature, Status::kBadSignature,
                                       "certificate issuer '" + issuer() +
                                           "' is not the subject '" + issuer_cert.subject() + "'"));
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer_cert.get());
  if (key == nullptr) return std::unexpected(bad_cert("issuer public key unreadable"));
  // X509_verify handles the RSASSA-PSS parameters AMD's chain uses (SHA-384, MGF1, salt 48).
  if (X509_verify(cert_.get(), key) != 1) {
    return std::unexpected(ossl::error(ErrorKind::kBadSignature, Status::kBadSignature,
                                       "signature of '" + subject() +
                                           "' does not verify under the key of '" +
                                           issuer_cert.subject() + "'"));
  }
  return {};
}

std::expected<void, FwError> verify_vcek_chain(const Certificate& vcek, const Certificate& ask,
                                               const Certificate& ark) {
  if (auto r = ark.verify_issued_by(ark); !r) {
    return std::unexpected(
        FwError{r.error().kind, r.error().status, "ARK is not self-signed: " + r.error().message});
  }
  if (auto r = ask.verify_issued_by(ark); !r) {
    return std::unexpected(
        FwError{r.error().kind, r.error().status, "ASK not issued by ARK: " + r.error().message});
  }
  if (auto r = vcek.verify_issued_by(ask); !r) {
    return std::unexpected(
        FwError{r.error().kind, r.error().status, "VCEK not issued by ASK: " + r.error().message});
  }
  return {};
}

}  // namespace snpemu::fw
