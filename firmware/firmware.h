// firmware/firmware.h: the AMD Secure Processor (SNP firmware) model: codecs, crypto and the
// mailbox (class Firmware, over Memory and the RMP).
//
// Table of contents, grouped by the file that defines each part:
//   status.cc        Status (firmware status codes), FwError (every error value in this package)
//   report.cc        AttestationReport (0x4A0-byte layout), parse/serialize, TCB_VERSION decode
//   certificate.cc   Certificate (X.509), VerifyingKey, VCEK -> ASK -> ARK chain check
//   ecdsa.cc         ECDSA P-384/SHA-384: verify a report signature, RFC 6979 deterministic sign
//   vcek.cc          ModelVcek: the deterministic model VCEK derived from a platform seed;
//                    platform_seed_from_machine_seed (MachineConfig::seed -> platform seed)
//   report_build.cc  ReportInputs -> a signed report (what MSG_REPORT_REQ produces)
//   id_block.cc      IdBlock, IdAuth, SnpPublicKey and the SNP_LAUNCH_FINISH ID-block checks
//   measure.cc       PageInfo and LaunchDigest: the SNP_LAUNCH_UPDATE SHA-384 chain
//   cpuid_page.cc    CpuidPage layout and the firmware's CPUID page check
//   commands.cc      CommandId and the command buffers (typed, parse/serialize)
//   guest_msg.cc     GuestMsgHeader, AES-256-GCM seal/open, GuestChannel (sequence numbers)
//   report_msg.cc    MSG_REPORT_REQ / MSG_REPORT_RSP payloads
//   key_msg.cc       MSG_KEY_REQ / MSG_KEY_RSP payloads and the model's derived guest keys
//   secrets.cc       SecretsPage layout, VMPCK derivation from the platform seed
//   policy.cc        GuestPolicy decode/encode and the SNP_LAUNCH_START policy checks
//   The mailbox (class Firmware, section "mailbox" at the end; needs Memory and the RMP):
//   mailbox.cc       FirmwareConfig, Firmware::create, command() dispatch, invariants, fingerprint
//   platform.cc      SNP_INIT, SNP_INIT_EX (range list), SNP_SHUTDOWN(_EX), SNP_PLATFORM_STATUS,
//                    SNP_DF_FLUSH
//   gctx.cc          SNP_GCTX_CREATE, SNP_ACTIVATE, SNP_DECOMMISSION, SNP_GUEST_STATUS
//   launch.cc        SNP_LAUNCH_START, SNP_LAUNCH_UPDATE, SNP_LAUNCH_FINISH
//   pages.cc         RMP page-state predicates, SNP_PAGE_RECLAIM, SNP_PAGE_UNSMASH
//   guest_request.cc SNP_GUEST_REQUEST (MSG_REPORT_REQ, MSG_KEY_REQ)
//
// Sources: PLATFORM-FACTS section 8 (which cites Linux psp-sev.h, asm/sev.h, KVM sev.c and
// virtee/sev-snp-measure). Crypto is OpenSSL 3.0 libcrypto only. Every malformed input is answered
// with an FwError value; nothing here throws or aborts on input. No global state: every function
// takes its inputs (seeds included) explicitly.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/types.h"
#include "emu/mem/memory.h"
#include "rmp/rmp.h"

struct evp_pkey_st;  // OpenSSL EVP_PKEY
struct x509_st;      // OpenSSL X509

namespace snpemu::fw {

using Digest384 = std::array<uint8_t, 48>;  // a SHA-384 digest
using Vmpck = std::array<uint8_t, 32>;      // an AES-256-GCM VM platform communication key

// ===== status.cc ==============================================================================

/// SNP firmware status codes. PLATFORM-FACTS 8.9 [L uapi psp-sev.h, values after the 2025 fix].
enum class Status : uint32_t {
  kSuccess = 0x00,
  kInvalidPlatformState = 0x01,
  kInvalidGuestState = 0x02,
  kInvalidConfig = 0x03,
  kInvalidLength = 0x04,
  kAlreadyOwned = 0x05,
  kInvalidCertificate = 0x06,
  kPolicyFailure = 0x07,
  kInactive = 0x08,
  kInvalidAddress = 0x09,
  kBadSignature = 0x0A,
  kBadMeasurement = 0x0B,
  kAsidOwned = 0x0C,
  kInvalidAsid = 0x0D,
  kWbinvdRequired = 0x0E,
  kDfflushRequired = 0x0F,
  kInvalidGuest = 0x10,
  kInvalidCommand = 0x11,
  kActive = 0x12,
  kHwerrorPlatform = 0x13,
  kHwerrorUnsafe = 0x14,
  kUnsupported = 0x15,
  kInvalidParam = 0x16,
  kResourceLimit = 0x17,
  kSecureDataInvalid = 0x18,
  kInvalidPageSize = 0x19,
  kInvalidPageState = 0x1A,
  kInvalidMdataEntry = 0x1B,
  kInvalidPageOwner = 0x1C,
  kAeadOflow = 0x1D,
  kExitRingBuffer = 0x1F,
  kRmpInitRequired = 0x20,
  kBadSvn = 0x21,
  kBadVersion = 0x22,
  kShutdownRequired = 0x23,
  kUpdateFailed = 0x24,
  kRestoreRequired = 0x25,
  kRmpInitializationFailed = 0x26,
  kInvalidKey = 0x27,
  kShutdownIncomplete = 0x28,  // [L-patch]
};

/// The spec name of a status ("SUCCESS", "INVALID_PARAM", ...); "UNKNOWN" for other values.
std::string_view status_name(Status status);

/// What went wrong, independent of the firmware status it maps to.
enum class ErrorKind : uint8_t {
  kBadLength,       // a buffer of the wrong size
  kBadVersion,      // a version field this model does not accept
  kBadAlgorithm,    // an algorithm id other than the one the spec defines
  kBadField,        // a field value outside its legal range (reserved bits, alignment, ...)
  kBadCertificate,  // a certificate or key that cannot be parsed or has the wrong type
  kBadSignature,    // a signature that does not verify
  kAuthFailed,      // AES-GCM tag mismatch
  kBadSequence,     // a guest-message sequence number out of order (replay) or overflowed
  kPolicyFailure,   // a guest policy the platform refuses
  kCrypto,          // libcrypto failed unexpectedly (allocation, internal error)
};

/// Every error value of this package: the kind, the firmware status a mailbox command would return
/// for it, and one precise line, e.g. "attestation report is 1183 bytes, expected 1184".
struct FwError {
  ErrorKind kind = ErrorKind::kBadField;
  Status status = Status::kInvalidParam;
  std::string message;
};

/// Short name of an ErrorKind ("bad length", ...), for messages.
std::string_view error_kind_name(ErrorKind kind);

// ===== report.cc ==============================================================================

/// Size of an attestation report and the part its signature covers. PLATFORM-FACTS 8.6.
inline constexpr size_t kReportSize = 0x4A0;
inline constexpr size_t kReportSignedSize = 0x2A0;
/// SIGNATURE_ALGO value for ECDSA P-384 with SHA-384. PLATFORM-FACTS 8.6.
inline constexpr uint32_t kSigAlgoEcdsaP384Sha384 = 1;
/// Report VERSION values this model parses (2 early Milan firmware; 3 adds CPUID fields;
/// 5 adds mitigation vectors). UNCONFIRMED: whether a version 4 ever shipped; it is accepted.
inline constexpr uint32_t kReportVersionMin = 2;
inline constexpr uint32_t kReportVersionMax = 5;
/// The version this model's firmware writes.
inline constexpr uint32_t kReportVersionModel = 3;

/// ECDSA signature as the firmware stores it: R and S little-endian, zero-padded to 72 bytes.
/// PLATFORM-FACTS 8.4 (signature format) and 8.6 (offset 0x2A0).
struct EcdsaSignature {
  std::array<uint8_t, 72> r{};
  std::array<uint8_t, 72> s{};
  std::array<uint8_t, 368> reserved{};
};
static_assert(sizeof(EcdsaSignature) == 512);

/// The attestation report, field names as in the SNP ABI (PLATFORM-FACTS 8.6). A plain
/// little-endian image: serialize/parse copy bytes; offsets are static_asserted below.
struct AttestationReport {
  uint32_t version = kReportVersionModel;
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
  std::array<uint8_t, 16> family_id{};
  std::array<uint8_t, 16> image_id{};
  uint32_t vmpl = 0;
  uint32_t signature_algo = kSigAlgoEcdsaP384Sha384;
  uint64_t platform_version = 0;  // current TCB (TCB_VERSION)
  uint64_t platform_info = 0;
  uint32_t flags = 0;  // bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY
  uint32_t reserved0 = 0;
  std::array<uint8_t, 64> report_data{};
  Digest384 measurement{};
  std::array<uint8_t, 32> host_data{};
  Digest384 id_key_digest{};
  Digest384 author_key_digest{};
  std::array<uint8_t, 32> report_id{};
  std::array<uint8_t, 32> report_id_ma{};
  uint64_t reported_tcb = 0;
  uint8_t cpuid_fam_id = 0;  // v3+; reserved in v2
  uint8_t cpuid_mod_id = 0;
  uint8_t cpuid_step = 0;
  std::array<uint8_t, 21> reserved1{};
  std::array<uint8_t, 64> chip_id{};
  uint64_t committed_tcb = 0;
  // Order build, minor, major (PLATFORM-FACTS 11.8 lists it as unconfirmed; the real Milan
  // report, VERSION 2, reads 04 34 01 = firmware 1.52 build 4 in this order, which fits).
  uint8_t current_build = 0;
  uint8_t current_minor = 0;
  uint8_t current_major = 0;
  uint8_t reserved2 = 0;
  uint8_t committed_build = 0;
  uint8_t committed_minor = 0;
  uint8_t committed_major = 0;
  uint8_t reserved3 = 0;
  uint64_t launch_tcb = 0;
  uint64_t launch_mit_vector = 0;   // v5
  uint64_t current_mit_vector = 0;  // v5
  std::array<uint8_t, 152> reserved4{};
  EcdsaSignature signature{};
};
static_assert(offsetof(AttestationReport, guest_svn) == 0x004);
static_assert(offsetof(AttestationReport, policy) == 0x008);
static_assert(offsetof(AttestationReport, family_id) == 0x010);
static_assert(offsetof(AttestationReport, image_id) == 0x020);
static_assert(offsetof(AttestationReport, vmpl) == 0x030);
static_assert(offsetof(AttestationReport, signature_algo) == 0x034);
static_assert(offsetof(AttestationReport, platform_version) == 0x038);
static_assert(offsetof(AttestationReport, platform_info) == 0x040);
static_assert(offsetof(AttestationReport, flags) == 0x048);
static_assert(offsetof(AttestationReport, report_data) == 0x050);
static_assert(offsetof(AttestationReport, measurement) == 0x090);
static_assert(offsetof(AttestationReport, host_data) == 0x0C0);
static_assert(offsetof(AttestationReport, id_key_digest) == 0x0E0);
static_assert(offsetof(AttestationReport, author_key_digest) == 0x110);
static_assert(offsetof(AttestationReport, report_id) == 0x140);
static_assert(offsetof(AttestationReport, report_id_ma) == 0x160);
static_assert(offsetof(AttestationReport, reported_tcb) == 0x180);
static_assert(offsetof(AttestationReport, cpuid_fam_id) == 0x188);
static_assert(offsetof(AttestationReport, cpuid_step) == 0x18A);
static_assert(offsetof(AttestationReport, chip_id) == 0x1A0);
static_assert(offsetof(AttestationReport, committed_tcb) == 0x1E0);
static_assert(offsetof(AttestationReport, current_build) == 0x1E8);
static_assert(offsetof(AttestationReport, committed_build) == 0x1EC);
static_assert(offsetof(AttestationReport, launch_tcb) == 0x1F0);
static_assert(offsetof(AttestationReport, launch_mit_vector) == 0x1F8);
static_assert(offsetof(AttestationReport, current_mit_vector) == 0x200);
static_assert(offsetof(AttestationReport, signature) == kReportSignedSize);
static_assert(sizeof(AttestationReport) == kReportSize);

/// Report FLAGS bits. PLATFORM-FACTS 8.6; SIGNING_KEY encodings UNCONFIRMED (11.8).
inline constexpr uint32_t kReportFlagAuthorKeyEn = 1u << 0;
inline constexpr uint32_t kReportFlagMaskChipKey = 1u << 1;
inline constexpr uint32_t kSigningKeyVcek = 0;  // FLAGS bits 4:2
inline constexpr uint32_t kSigningKeyVlek = 1;
inline constexpr uint32_t kSigningKeyNone = 7;

/// Parses a report. Errors: kBadLength (size != 0x4A0), kBadVersion (VERSION outside 2..5),
/// kBadAlgorithm (SIGNATURE_ALGO != 1), kBadField (VMPL > 3). The signature is not checked here.
std::expected<AttestationReport, FwError> parse_report(std::span<const uint8_t> bytes);
/// The report's 0x4A0-byte little-endian image.
std::array<uint8_t, kReportSize> serialize_report(const AttestationReport& report);

/// CPU generation, which decides the TCB_VERSION byte layout.
enum class TcbLayout : uint8_t { kMilanGenoa, kTurin };
/// TCB_VERSION fields (security version numbers). `fmc` exists on Turin only.
struct TcbVersion {
  uint8_t boot_loader = 0;
  uint8_t tee = 0;
  uint8_t snp = 0;
  uint8_t microcode = 0;
  uint8_t fmc = 0;
  constexpr bool operator==(const TcbVersion&) const = default;
};
/// Milan/Genoa: byte 0 boot loader, 1 TEE, 2-5 reserved, 6 SNP, 7 microcode. Turin: 0 FMC,
/// 1 boot loader, 2 TEE, 3 SNP, 4-6 reserved, 7 microcode. PLATFORM-FACTS 8.6 [L psp-sev.h].
TcbVersion decode_tcb(uint64_t raw, TcbLayout layout);
/// The inverse of decode_tcb (reserved bytes zero; `fmc` ignored for Milan/Genoa).
uint64_t encode_tcb(const TcbVersion& tcb, TcbLayout layout);

// ===== certificate.cc =========================================================================

/// A public key (shared, immutable OpenSSL EVP_PKEY). Copyable; never null once constructed.
class VerifyingKey {
 public:
  /// Wraps an EVP_PKEY, taking one reference (package-internal constructor path).
  explicit VerifyingKey(std::shared_ptr<evp_pkey_st> key) : key_(std::move(key)) {}
  /// Parses a SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----").
  static std::expected<VerifyingKey, FwError> from_pem(std::string_view pem);
  /// SubjectPublicKeyInfo PEM of this key.
  std::expected<std::string, FwError> to_pem() const;
  /// True if this is an EC key on P-384 (secp384r1).
  bool is_p384() const;
  evp_pkey_st* get() const { return key_.get(); }

 private:
  std::shared_ptr<evp_pkey_st> key_;
};

/// An X.509 certificate (shared, immutable). Only signatures and names are checked: no validity
/// period (the emulator has no wall clock) and no extension policy.
class Certificate {
 public:
  explicit Certificate(std::shared_ptr<x509_st> cert) : cert_(std::move(cert)) {}
  /// Parses DER (the VCEK format AMD's KDS serves). kBadCertificate on malformed input.
  static std::expected<Certificate, FwError> from_der(std::span<const uint8_t> der);
  /// Parses the first PEM certificate in `pem` (ASK/ARK format).
  static std::expected<Certificate, FwError> from_pem(std::string_view pem);
  /// The subject public key.
  std::expected<VerifyingKey, FwError> public_key() const;
  /// Subject and issuer as one-line strings (for messages and tests).
  std::string subject() const;
  std::string issuer() const;
  /// Checks that `issuer` issued this certificate: issuer name equals `issuer`'s subject and the
  /// signature (RSA-PSS for AMD's chain) verifies under `issuer`'s key. kBadSignature otherwise.
  std::expected<void, FwError> verify_issued_by(const Certificate& issuer) const;
  x509_st* get() const { return cert_.get(); }

 private:
  std::shared_ptr<x509_st> cert_;
};

/// Checks VCEK <- ASK <- ARK <- ARK (self-signed root). The first failing link is named.
std::expected<void, FwError> verify_vcek_chain(const Certificate& vcek, const Certificate& ask,
                                               const Certificate& ark);

// ===== ecdsa.cc ===============================================================================

/// Verifies an ECDSA P-384 signature over SHA-384(`message`); R, S as the firmware stores them.
/// kBadCertificate if `key` is not P-384, kBadSignature if it does not verify (including R or S
/// out of range).
std::expected<void, FwError> ecdsa_p384_verify(std::span<const uint8_t> message,
                                               const EcdsaSignature& signature,
                                               const VerifyingKey& key);
/// Verifies a serialized report: size and SIGNATURE_ALGO first, then the signature over bytes
/// 0x000-0x29F against `key` (the VCEK's public key).
std::expected<void, FwError> verify_report_signature(std::span<const uint8_t> report_bytes,
                                                     const VerifyingKey& key);

/// Deterministic ECDSA P-384 per RFC 6979 (k from HMAC-SHA-384 over the private key and digest),
/// computed with libcrypto's BN/EC primitives (OpenSSL 3.0 has no deterministic ECDSA).
/// `private_key_be` is the scalar d big-endian (1 <= d < n), `digest` = SHA-384(message).
/// Returns R, S in the firmware's little-endian form; `k_out`, if not null, receives the nonce
/// (big-endian) used, for known-answer tests.
std::expected<EcdsaSignature, FwError> ecdsa_p384_sign_rfc6979(
    const std::array<uint8_t, 48>& private_key_be, const Digest384& digest,
    std::array<uint8_t, 48>* k_out = nullptr);

/// SHA-384 of `data`.
Digest384 sha384(std::span<const uint8_t> data);

// ===== vcek.cc ================================================================================

/// The model VCEK: a P-384 key derived deterministically from an explicit platform seed. (Built
/// with from_private_scalar it is also a general deterministic P-384 signer, e.g. an ID key.)
///
/// Derivation (documented so that any tool can reproduce it):
///   okm = HKDF-SHA-384(IKM = seed, salt = "snpemu model VCEK", info = "P-384 d v1", L = 64)
///   d   = (OS2IP(okm) mod (n - 1)) + 1                (FIPS 186-5 A.2.1 "extra random bits")
/// where n is the P-384 group order. Signatures use RFC 6979 nonces, so the same seed and the
/// same report always give the same signature bytes.
class ModelVcek {
 public:
  /// Minimum seed length accepted.
  static constexpr size_t kMinSeedSize = 16;
  /// Derives the key; kBadLength if the seed is shorter than kMinSeedSize.
  static std::expected<ModelVcek, FwError> derive(std::span<const uint8_t> platform_seed);
  /// A key from an explicit scalar (big-endian, 1 <= d < n), for known-answer tests.
  static std::expected<ModelVcek, FwError> from_private_scalar(const std::array<uint8_t, 48>& d_be);
  /// The public key.
  const VerifyingKey& public_key() const { return public_key_; }
  /// SubjectPublicKeyInfo PEM of the public key (what `snpemu vcek --pem` prints).
  std::expected<std::string, FwError> public_key_pem() const { return public_key_.to_pem(); }
  /// Signs SHA-384(`message`) deterministically.
  std::expected<EcdsaSignature, FwError> sign(std::span<const uint8_t> message) const;
  /// Sets SIGNATURE_ALGO to 1 and fills SIGNATURE over the serialized bytes 0x000-0x29F.
  std::expected<void, FwError> sign_report(AttestationReport& report) const;

 private:
  ModelVcek(std::array<uint8_t, 48> d_be, VerifyingKey pub)
      : d_be_(d_be), public_key_(std::move(pub)) {}
  std::array<uint8_t, 48> d_be_;
  VerifyingKey public_key_;
};

/// The platform seed of a machine whose MachineConfig::seed is `machine_seed`, so that the
/// machine's firmware and `snpemu vcek --pem` agree on the VCEK:
///   SHA-384("snpemu platform seed v1" || u64le(machine_seed))   (48 bytes)
std::vector<uint8_t> platform_seed_from_machine_seed(uint64_t machine_seed);

// ===== report_build.cc ========================================================================

/// Everything the firmware knows when a guest asks for a report: guest context facts fixed at
/// launch, platform facts, and the request. Report fields not listed here are zero.
struct ReportInputs {
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
  std::array<uint8_t, 16> family_id{};
  std::array<uint8_t, 16> image_id{};
  uint64_t platform_version = 0;
  uint64_t platform_info = 0;
  bool author_key_en = false;
  bool mask_chip_id = false;  // MASK_CHIP_ID in SNP_CONFIG: CHIP_ID reported as zeros
  Digest384 measurement{};
  std::array<uint8_t, 32> host_data{};
  Digest384 id_key_digest{};
  Digest384 author_key_digest{};
  std::array<uint8_t, 32> report_id{};
  std::array<uint8_t, 32> report_id_ma{};
  uint64_t reported_tcb = 0;
  uint8_t cpuid_fam_id = 0, cpuid_mod_id = 0, cpuid_step = 0;
  std::array<uint8_t, 64> chip_id{};
  uint64_t committed_tcb = 0;
  uint8_t current_build = 0, current_minor = 0, current_major = 0;
  uint8_t committed_build = 0, committed_minor = 0, committed_major = 0;
  uint64_t launch_tcb = 0;
};

/// Builds and signs the report for a MSG_REPORT_REQ that arrived under VMPCK[`key_vmpl`] and asked
/// for `report_data` at `requested_vmpl`. The firmware cannot see which VMPL the guest runs at;
/// the key identifies it (only VMPL n and more privileged levels know VMPCK[n]), so the report
/// VMPL must be in [key_vmpl, 3]. Otherwise kBadField with status INVALID_PARAM, which goes into
/// MSG_REPORT_RSP.status (the command itself succeeds). [SNP ABI MSG_REPORT_RSP status 0x16;
/// UNCONFIRMED beyond the PLATFORM-FACTS 8.6 payload layout]
std::expected<AttestationReport, FwError> build_signed_report(
    const ReportInputs& inputs, const std::array<uint8_t, 64>& report_data, uint32_t requested_vmpl,
    Vmpl key_vmpl, const ModelVcek& vcek);

// ===== id_block.cc ============================================================================

/// A public key in the firmware's format (1028 bytes): curve 2 = P-384, Qx and Qy little-endian
/// zero-padded to 72 bytes. PLATFORM-FACTS 8.4 [3P sev-snp-measure id_block.py].
struct SnpPublicKey {
  uint32_t curve = 2;
  std::array<uint8_t, 72> qx{};
  std::array<uint8_t, 72> qy{};
  std::array<uint8_t, 880> reserved{};
};
static_assert(offsetof(SnpPublicKey, qy) == 0x4C);
static_assert(sizeof(SnpPublicKey) == 1028);
inline constexpr uint32_t kCurveP384 = 2;

/// The ID block SNP_LAUNCH_FINISH may carry (96 bytes). PLATFORM-FACTS 8.4.
struct IdBlock {
  Digest384 ld{};  // expected launch digest
  std::array<uint8_t, 16> family_id{};
  std::array<uint8_t, 16> image_id{};
  uint32_t version = 1;
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
};
static_assert(offsetof(IdBlock, version) == 0x50);
static_assert(offsetof(IdBlock, policy) == 0x58);
static_assert(sizeof(IdBlock) == 96);

/// The ID authentication information structure (4096 bytes). PLATFORM-FACTS 8.4.
struct IdAuth {
  uint32_t id_key_algo = kSigAlgoEcdsaP384Sha384;
  uint32_t auth_key_algo = kSigAlgoEcdsaP384Sha384;
  std::array<uint8_t, 56> reserved1{};
  EcdsaSignature id_block_sig{};  // by the ID key, over the 96-byte ID block
  SnpPublicKey id_key{};
  std::array<uint8_t, 60> reserved2{};
  EcdsaSignature id_key_sig{};  // by the author key, over the 1028-byte ID key
  SnpPublicKey author_key{};
  std::array<uint8_t, 892> reserved3{};
};
static_assert(offsetof(IdAuth, id_block_sig) == 0x040);
static_assert(offsetof(IdAuth, id_key) == 0x240);
static_assert(offsetof(IdAuth, id_key_sig) == 0x680);
static_assert(offsetof(IdAuth, author_key) == 0x880);
static_assert(sizeof(IdAuth) == 4096);

/// The firmware-format image of a P-384 key; kBadCertificate for any other key type.
std::expected<SnpPublicKey, FwError> to_snp_public_key(const VerifyingKey& key);
/// The key a firmware-format structure describes; kBadAlgorithm unless curve is 2, kBadField if
/// the point is not on P-384.
std::expected<VerifyingKey, FwError> from_snp_public_key(const SnpPublicKey& key);
/// ID_KEY_DIGEST / AUTHOR_KEY_DIGEST: SHA-384 of the 1028-byte structure.
Digest384 key_digest(const SnpPublicKey& key);
/// Byte images and parsers (parsers: kBadLength unless the exact size).
std::array<uint8_t, sizeof(IdBlock)> serialize_id_block(const IdBlock& block);
std::expected<IdBlock, FwError> parse_id_block(std::span<const uint8_t> bytes);
std::array<uint8_t, sizeof(IdAuth)> serialize_id_auth(const IdAuth& auth);
std::expected<IdAuth, FwError> parse_id_auth(std::span<const uint8_t> bytes);

/// What SNP_LAUNCH_FINISH takes from a checked ID block into the guest context.
struct IdCheckResult {
  IdBlock block;
  Digest384 id_key_digest{};
  Digest384 author_key_digest{};  // zero unless auth_key_en
};
/// The ID block checks of SNP_LAUNCH_FINISH (SNP ABI, LAUNCH_FINISH): key algorithms are
/// ECDSA P-384 (kBadAlgorithm/INVALID_PARAM); the ID block signature verifies under the ID key
/// and, with `auth_key_en`, the ID key signature under the author key (BAD_SIGNATURE); the ID
/// block's LD equals `launch_digest` (BAD_MEASUREMENT); its POLICY equals the guest's `policy`
/// (POLICY_FAILURE). UNCONFIRMED: the order of the checks and the status for a bad VERSION
/// (INVALID_PARAM chosen).
std::expected<IdCheckResult, FwError> check_id_block(const IdBlock& block, const IdAuth& auth,
                                                     bool auth_key_en,
                                                     const Digest384& launch_digest,
                                                     uint64_t policy);

// ===== measure.cc =============================================================================

/// SNP_LAUNCH_UPDATE page types. PLATFORM-FACTS 8.3.
enum class PageType : uint8_t {
  kNormal = 1,
  kVmsa = 2,
  kZero = 3,
  kUnmeasured = 4,
  kSecrets = 5,
  kCpuid = 6,
};
/// "normal", "vmsa", ... ("invalid" for other values).
std::string_view page_type_name(PageType type);

/// GPA recorded for VMSA pages: all ones truncated to 52 bits, page aligned. PLATFORM-FACTS 8.4
/// [3P sev-snp-measure gctx.py VMSA_GPA; L KVM INITIAL_VMSA_GPA].
inline constexpr Gpa kVmsaGpa{0xFFFF'FFFF'F000};
/// Largest GPA (52-bit guest physical address space).
inline constexpr uint64_t kMaxGpa = (uint64_t{1} << 52) - 1;

/// PAGE_INFO, the 112-byte structure hashed at each launch step. PLATFORM-FACTS 8.4.
struct PageInfo {
  Digest384 digest_cur{};
  Digest384 contents{};
  uint16_t length = 0x70;
  uint8_t page_type = 0;
  uint8_t imi_page = 0;
  uint8_t vmpl3_perms = 0;
  uint8_t vmpl2_perms = 0;
  uint8_t vmpl1_perms = 0;
  uint8_t reserved = 0;
  uint64_t gpa = 0;
};
static_assert(offsetof(PageInfo, contents) == 0x30);
static_assert(offsetof(PageInfo, length) == 0x60);
static_assert(offsetof(PageInfo, page_type) == 0x62);
static_assert(offsetof(PageInfo, imi_page) == 0x63);
static_assert(offsetof(PageInfo, vmpl3_perms) == 0x64);
static_assert(offsetof(PageInfo, vmpl1_perms) == 0x66);
static_assert(offsetof(PageInfo, gpa) == 0x68);
static_assert(sizeof(PageInfo) == 0x70);

/// The 112-byte little-endian image of `info`.
std::array<uint8_t, sizeof(PageInfo)> serialize_page_info(const PageInfo& info);

/// Per-page options of SNP_LAUNCH_UPDATE that enter PAGE_INFO (KVM always uses all zero).
struct PageOptions {
  bool imi_page = false;
  uint8_t vmpl1_perms = 0, vmpl2_perms = 0, vmpl3_perms = 0;
};

/// The launch digest: starts at 48 zero bytes; each 4 KiB page launched replaces it by
/// SHA-384(PAGE_INFO). CONTENTS is SHA-384 of the page for NORMAL and VMSA, zeros otherwise.
class LaunchDigest {
 public:
  const Digest384& digest() const { return digest_; }
  /// Measures one 4 KiB page of `type` at `gpa`. `page` must be 4096 bytes for NORMAL and VMSA
  /// and is ignored (may be empty) for the others. Errors (digest unchanged): kBadField/
  /// INVALID_PARAM for an unknown type, kBadField/INVALID_ADDRESS for a GPA that is not page
  /// aligned or above 52 bits, kBadLength/INVALID_LENGTH for a page that is not 4096 bytes.
  std::expected<void, FwError> update(PageType type, Gpa gpa, std::span<const uint8_t> page,
                                      const PageOptions& options = {});
  /// NORMAL pages covering `data` from `gpa` on; `data` is zero-padded to whole pages.
  std::expected<void, FwError> update_normal(Gpa gpa, std::span<const uint8_t> data);
  /// A VMSA page, at kVmsaGpa (the GPA KVM gives every VMSA page).
  std::expected<void, FwError> update_vmsa(std::span<const uint8_t> vmsa_page);
  /// `pages` consecutive ZERO pages from `gpa` on.
  std::expected<void, FwError> update_zero(Gpa gpa, uint64_t pages = 1);
  /// The PAGE_INFO that update() would hash next (for tests and traces).
  std::expected<PageInfo, FwError> next_page_info(PageType type, Gpa gpa,
                                                  std::span<const uint8_t> page,
                                                  const PageOptions& options = {}) const;

 private:
  Digest384 digest_{};
};

// ===== cpuid_page.cc ==========================================================================

/// One CPUID table entry (48 bytes). PLATFORM-FACTS 8.3 [L asm/sev.h snp_cpuid_fn].
struct CpuidEntry {
  uint32_t eax_in = 0;
  uint32_t ecx_in = 0;
  uint64_t xcr0_in = 0;
  uint64_t xss_in = 0;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  uint64_t reserved = 0;
  constexpr bool operator==(const CpuidEntry&) const = default;
};
static_assert(offsetof(CpuidEntry, eax) == 0x18);
static_assert(sizeof(CpuidEntry) == 48);

inline constexpr size_t kCpuidMaxEntries = 64;
/// The CPUID page of SNP_LAUNCH_UPDATE(CPUID) (4096 bytes). PLATFORM-FACTS 8.3.
struct CpuidPage {
  uint32_t count = 0;
  uint32_t reserved1 = 0;
  uint64_t reserved2 = 0;
  std::array<CpuidEntry, kCpuidMaxEntries> entries{};
  std::array<uint8_t, 4096 - 16 - kCpuidMaxEntries * 48> reserved3{};
};
static_assert(offsetof(CpuidPage, entries) == 16);
static_assert(sizeof(CpuidPage) == 4096);

std::array<uint8_t, 4096> serialize_cpuid_page(const CpuidPage& page);
/// kBadLength unless 4096 bytes; kBadField/INVALID_PARAM if count > 64.
std::expected<CpuidPage, FwError> parse_cpuid_page(std::span<const uint8_t> bytes);

/// What the platform lets a guest see for one (leaf, subleaf): each output register is
/// `(value & allowed) | required`. A runtime option of the model, built from the CPU profile.
struct CpuidRule {
  uint32_t eax_in = 0;
  uint32_t ecx_in = 0;
  std::array<uint32_t, 4> allowed{~0u, ~0u, ~0u, ~0u};  // EAX, EBX, ECX, EDX
  std::array<uint32_t, 4> required{};
};
/// The firmware's CPUID page check (UNCONFIRMED model of AMD's opaque rules, PLATFORM-FACTS 8.3:
/// on any disallowed value the firmware returns INVALID_PARAM and writes back the corrected
/// page, which KVM copies to userspace). Returns the corrected page; `*changed` tells whether it
/// differs (the command's status is then INVALID_PARAM). Entries whose (leaf, subleaf) has no
/// rule are zeroed in EAX..EDX (UNCONFIRMED). Errors: count > 64.
std::expected<CpuidPage, FwError> sanitize_cpuid_page(const CpuidPage& page,
                                                      std::span<const CpuidRule> rules,
                                                      bool* changed);

// ===== commands.cc ============================================================================

/// Firmware command ids (the mailbox's command field). PLATFORM-FACTS 8.1 [L psp-sev.h].
enum class CommandId : uint32_t {
  kSnpInit = 0x081,
  kSnpShutdown = 0x082,
  kSnpPlatformStatus = 0x083,
  kSnpDfFlush = 0x084,
  kSnpInitEx = 0x085,
  kSnpShutdownEx = 0x086,
  kSnpDecommission = 0x090,
  kSnpActivate = 0x091,
  kSnpGuestStatus = 0x092,
  kSnpGctxCreate = 0x093,
  kSnpGuestRequest = 0x094,
  kSnpActivateEx = 0x095,
  kSnpLaunchStart = 0x0A0,
  kSnpLaunchUpdate = 0x0A1,
  kSnpLaunchFinish = 0x0A2,
  kSnpDbgDecrypt = 0x0B0,
  kSnpDbgEncrypt = 0x0B1,
  kSnpPageSwapOut = 0x0C0,
  kSnpPageSwapIn = 0x0C1,
  kSnpPageMove = 0x0C2,
  kSnpPageMdInit = 0x0C3,
  kSnpPageSetState = 0x0C6,
  kSnpPageReclaim = 0x0C7,
  kSnpPageUnsmash = 0x0C8,
  kSnpConfig = 0x0C9,
  kSnpDownloadFirmwareEx = 0x0CA,
  kSnpCommit = 0x0CB,
  kSnpVlekLoad = 0x0CD,
  kSnpFeatureInfo = 0x0CE,
};
/// "SNP_LAUNCH_START", ... ("UNKNOWN" for other values).
std::string_view command_name(CommandId id);

// Command buffers, decoded. Each has kSize (bytes the firmware reads, PLATFORM-FACTS 8.2) and a
// parse (kBadLength/INVALID_LENGTH if shorter; the checks listed) and serialize pair.

/// SNP_GCTX_CREATE, SNP_DECOMMISSION, SNP_PLATFORM_STATUS: one SPA.
struct CmdAddr {
  static constexpr size_t kSize = 8;
  Hpa address;
};
/// SNP_ACTIVATE.
struct CmdActivate {
  static constexpr size_t kSize = 12;
  Hpa gctx_paddr;
  Asid asid;
};
/// SNP_LAUNCH_START. Checks: flags bits 31:2 zero.
struct CmdLaunchStart {
  static constexpr size_t kSize = 48;
  Hpa gctx_paddr;
  uint64_t policy = 0;
  Hpa ma_gctx_paddr;
  bool ma_en = false;   // flags bit 0
  bool imi_en = false;  // flags bit 1
  uint32_t desired_tsc_khz = 0;
  std::array<uint8_t, 16> gosvw{};
};
/// SNP_LAUNCH_UPDATE. Checks: page_type 1..6 (INVALID_PARAM); reserved bits zero (INVALID_PARAM,
/// UNCONFIRMED); address aligned to the page size (INVALID_ADDRESS, UNCONFIRMED).
struct CmdLaunchUpdate {
  static constexpr size_t kSize = 32;
  Hpa gctx_paddr;
  bool page_size_2m = false;                                  // bit 0 of the u32 at 0x08
  PageType page_type = PageType::kNormal;                     // bits 3:1
  bool imi_page = false;                                      // bit 4
  Hpa address;                                                // SPA of the page
  uint8_t vmpl1_perms = 0, vmpl2_perms = 0, vmpl3_perms = 0;  // bits 15:8, 23:16, 31:24 @0x18
};
/// SNP_LAUNCH_FINISH. Checks: flags bits 63:3 zero; AUTH_KEY_EN needs ID_BLOCK_EN
/// (INVALID_PARAM, UNCONFIRMED).
struct CmdLaunchFinish {
  static constexpr size_t kSize = 64;
  Hpa gctx_paddr;
  Hpa id_block_paddr;
  Hpa id_auth_paddr;
  bool id_block_en = false, auth_key_en = false, vcek_disabled = false;  // bits 0, 1, 2 @0x18
  std::array<uint8_t, 32> host_data{};
};
/// SNP_GUEST_STATUS (gctx, status page), SNP_GUEST_REQUEST (gctx, request, response), and
/// SNP_DBG_DECRYPT/ENCRYPT (gctx, src, dst): a context and up to two more SPAs.
struct CmdGctxAddrs {
  static constexpr size_t kSizeTwo = 16;
  static constexpr size_t kSizeThree = 24;
  Hpa gctx_paddr;
  Hpa first;
  Hpa second;  // unused (zero) for the 16-byte form
};
/// SNP_PAGE_RECLAIM / SNP_PAGE_UNSMASH: bit 0 of the address is the page size.
struct CmdPageAddr {
  static constexpr size_t kSize = 8;
  Hpa address;  // page aligned, bit 0 cleared
  bool page_size_2m = false;
};
/// SNP_INIT_EX. Checks: flags bits 31:5 zero (INVALID_PARAM, UNCONFIRMED).
struct CmdInitEx {
  static constexpr size_t kSize = 64;
  bool init_rmp = false, list_paddr_en = false, rapl_dis = false;
  bool ciphertext_hiding_en = false, tio_en = false;
  Hpa list_paddr;
  uint16_t max_snp_asid = 0;
};
/// SNP_SHUTDOWN_EX.
struct CmdShutdownEx {
  static constexpr size_t kSize = 8;
  uint32_t len = kSize;
  bool iommu_snp_shutdown = false, x86_snp_shutdown = false;
};

std::expected<CmdAddr, FwError> parse_cmd_addr(std::span<const uint8_t> buf);
std::expected<CmdActivate, FwError> parse_cmd_activate(std::span<const uint8_t> buf);
std::expected<CmdLaunchStart, FwError> parse_cmd_launch_start(std::span<const uint8_t> buf);
std::expected<CmdLaunchUpdate, FwError> parse_cmd_launch_update(std::span<const uint8_t> buf);
std::expected<CmdLaunchFinish, FwError> parse_cmd_launch_finish(std::span<const uint8_t> buf);
/// `count` is 2 (16-byte form) or 3 (24-byte form).
std::expected<CmdGctxAddrs, FwError> parse_cmd_gctx_addrs(std::span<const uint8_t> buf, int count);
std::expected<CmdPageAddr, FwError> parse_cmd_page_addr(std::span<const uint8_t> buf);
std::expected<CmdInitEx, FwError> parse_cmd_init_ex(std::span<const uint8_t> buf);
std::expected<CmdShutdownEx, FwError> parse_cmd_shutdown_ex(std::span<const uint8_t> buf);

std::vector<uint8_t> serialize(const CmdAddr& c);
std::vector<uint8_t> serialize(const CmdActivate& c);
std::vector<uint8_t> serialize(const CmdLaunchStart& c);
std::vector<uint8_t> serialize(const CmdLaunchUpdate& c);
std::vector<uint8_t> serialize(const CmdLaunchFinish& c);
std::vector<uint8_t> serialize(const CmdGctxAddrs& c, int count);
std::vector<uint8_t> serialize(const CmdPageAddr& c);
std::vector<uint8_t> serialize(const CmdInitEx& c);
std::vector<uint8_t> serialize(const CmdShutdownEx& c);

// ===== guest_msg.cc ===========================================================================

/// Guest message types. PLATFORM-FACTS 8.7.
enum class MsgType : uint8_t {
  kInvalid = 0,
  kCpuidReq = 1,
  kCpuidRsp = 2,
  kKeyReq = 3,
  kKeyRsp = 4,
  kReportReq = 5,
  kReportRsp = 6,
  kExportReq = 7,
  kExportRsp = 8,
  kImportReq = 9,
  kImportRsp = 10,
  kAbsorbReq = 11,
  kAbsorbRsp = 12,
  kVmrkReq = 13,
  kVmrkRsp = 14,
  kTscInfoReq = 17,
  kTscInfoRsp = 18,
};

inline constexpr size_t kMsgHeaderSize = 0x60;
inline constexpr size_t kMsgPageSize = 4096;
inline constexpr size_t kMaxMsgPayload = kMsgPageSize - kMsgHeaderSize;
inline constexpr uint8_t kMsgAlgoAes256Gcm = 1;
inline constexpr uint8_t kMsgHdrVersion = 1;

/// The 96-byte guest message header. PLATFORM-FACTS 8.7 [L asm/sev.h snp_guest_msg_hdr].
struct GuestMsgHeader {
  std::array<uint8_t, 32> authtag{};  // 16 bytes used (AES-GCM tag)
  uint64_t msg_seqno = 0;
  std::array<uint8_t, 8> rsvd1{};
  uint8_t algo = kMsgAlgoAes256Gcm;
  uint8_t hdr_version = kMsgHdrVersion;
  uint16_t hdr_sz = kMsgHeaderSize;
  uint8_t msg_type = 0;
  uint8_t msg_version = 1;
  uint16_t msg_sz = 0;
  uint32_t rsvd2 = 0;
  uint8_t msg_vmpck = 0;
  std::array<uint8_t, 35> rsvd3{};
};
static_assert(offsetof(GuestMsgHeader, msg_seqno) == 0x20);
static_assert(offsetof(GuestMsgHeader, algo) == 0x30);
static_assert(offsetof(GuestMsgHeader, hdr_sz) == 0x32);
static_assert(offsetof(GuestMsgHeader, msg_type) == 0x34);
static_assert(offsetof(GuestMsgHeader, msg_sz) == 0x36);
static_assert(offsetof(GuestMsgHeader, msg_vmpck) == 0x3C);
static_assert(sizeof(GuestMsgHeader) == kMsgHeaderSize);

/// A decrypted, authenticated message.
struct GuestMessage {
  GuestMsgHeader header;
  std::vector<uint8_t> payload;
};

/// Encrypts `payload` under `key`: header filled from the arguments (msg_sz = payload size),
/// IV = msg_seqno little-endian zero-extended to 12 bytes, AAD = header bytes 0x30-0x5F, tag in
/// authtag[0..15]. Returns header + ciphertext. kBadLength if the payload exceeds kMaxMsgPayload,
/// kBadField if msg_vmpck > 3 or seqno is 0.
std::expected<std::vector<uint8_t>, FwError> seal_message(const Vmpck& key, MsgType type,
                                                          uint8_t msg_version, uint64_t seqno,
                                                          uint8_t msg_vmpck,
                                                          std::span<const uint8_t> payload);
/// Parses and checks a header (algo, hdr_version, hdr_sz, msg_sz against the buffer, vmpck).
std::expected<GuestMsgHeader, FwError> parse_msg_header(std::span<const uint8_t> bytes);
/// Parses, authenticates and decrypts a sealed message. kAuthFailed on a tag mismatch.
std::expected<GuestMessage, FwError> open_message(const Vmpck& key, std::span<const uint8_t> bytes);

/// The firmware side of the guest-message channel of one guest context: the four VMPCKs and a
/// sequence counter per VMPCK. A request must carry counter + 1; the response carries request
/// seqno + 1 and type + 1; the counter then advances by 2 (PLATFORM-FACTS 8.7). A replayed or
/// out-of-order request is rejected and leaves the counter unchanged.
class GuestChannel {
 public:
  /// `counters` restores the last sequence number per VMPCK (e.g. from a snapshot).
  explicit GuestChannel(const std::array<Vmpck, 4>& vmpcks,
                        const std::array<uint64_t, 4>& counters = {})
      : vmpcks_(vmpcks), counters_(counters) {}
  /// Opens a request under VMPCK[msg_vmpck]: header checks, then msg_seqno must be the counter
  /// + 1 (kBadSequence otherwise, counter unchanged), then AES-GCM authentication (kAuthFailed).
  std::expected<GuestMessage, FwError> open_request(std::span<const uint8_t> bytes);
  /// Seals the response to `request` (opened just before) and advances the counter.
  std::expected<std::vector<uint8_t>, FwError> seal_response(const GuestMsgHeader& request,
                                                             std::span<const uint8_t> payload);
  /// Last sequence number used with VMPCK[n] (0 before any message).
  uint64_t counter(uint8_t vmpck) const { return vmpck < 4 ? counters_[vmpck] : 0; }

 private:
  std::array<Vmpck, 4> vmpcks_;
  std::array<uint64_t, 4> counters_{};
};

// ===== report_msg.cc ==========================================================================

/// MSG_REPORT_REQ payload (96 bytes). PLATFORM-FACTS 8.6.
struct MsgReportReq {
  std::array<uint8_t, 64> report_data{};
  uint32_t vmpl = 0;
  std::array<uint8_t, 28> rsvd{};
};
static_assert(offsetof(MsgReportReq, vmpl) == 0x40);
static_assert(sizeof(MsgReportReq) == 96);

/// MSG_REPORT_RSP: status u32, report_size u32, reserved[24], then the report.
struct MsgReportRsp {
  uint32_t status = 0;  // 0 success, 0x16 INVALID_PARAM (UNCONFIRMED: other values)
  uint32_t report_size = 0;
  std::array<uint8_t, 24> rsvd{};
  AttestationReport report;
};
static_assert(offsetof(MsgReportRsp, report) == 0x20);
static_assert(sizeof(MsgReportRsp) == 0x20 + kReportSize);

/// Parses a request payload; kBadLength if shorter than 96 bytes (UNCONFIRMED: longer payloads
/// accepted, extra bytes ignored), kBadField if vmpl > 3.
std::expected<MsgReportReq, FwError> parse_report_req(std::span<const uint8_t> payload);
std::array<uint8_t, sizeof(MsgReportReq)> serialize_report_req(const MsgReportReq& req);
/// The response payload; a failed request carries only the 32-byte status part.
std::vector<uint8_t> serialize_report_rsp(const MsgReportRsp& rsp);
/// Parses a response payload (the guest side); the report is parsed only when status is 0.
std::expected<MsgReportRsp, FwError> parse_report_rsp(std::span<const uint8_t> payload);

// ===== key_msg.cc =============================================================================

/// MSG_KEY_REQ payload (32 bytes). [L uapi sev-guest.h snp_derived_key_req]
struct MsgKeyReq {
  uint32_t root_key_select = 0;  // bit 0: 0 VCEK, 1 VMRK; bits 2:1 KEY_SEL (0 default, 1 VCEK,
                                 // 2 VLEK) [SNP ABI; UNCONFIRMED beyond Linux's field name]
  uint32_t rsvd = 0;
  uint64_t guest_field_select = 0;  // bits below (kKeyField*)
  uint32_t vmpl = 0;
  uint32_t guest_svn = 0;
  uint64_t tcb_version = 0;
};
static_assert(offsetof(MsgKeyReq, guest_field_select) == 0x08);
static_assert(offsetof(MsgKeyReq, tcb_version) == 0x18);
static_assert(sizeof(MsgKeyReq) == 32);

/// GUEST_FIELD_SELECT bits (SNP ABI MSG_KEY_REQ; UNCONFIRMED: from the ABI, not our sources).
inline constexpr uint64_t kKeyFieldPolicy = 1u << 0;
inline constexpr uint64_t kKeyFieldImageId = 1u << 1;
inline constexpr uint64_t kKeyFieldFamilyId = 1u << 2;
inline constexpr uint64_t kKeyFieldMeasurement = 1u << 3;
inline constexpr uint64_t kKeyFieldGuestSvn = 1u << 4;
inline constexpr uint64_t kKeyFieldTcbVersion = 1u << 5;

/// MSG_KEY_RSP payload (64 bytes): status u32, reserved[28], derived_key[32].
/// [L uapi sev-guest.h snp_derived_key_resp is 64 bytes; field split from the SNP ABI]
struct MsgKeyRsp {
  uint32_t status = 0;  // 0 success, 0x16 INVALID_PARAM, 0x27 INVALID_KEY
  std::array<uint8_t, 28> rsvd{};
  std::array<uint8_t, 32> derived_key{};
};
static_assert(offsetof(MsgKeyRsp, derived_key) == 0x20);
static_assert(sizeof(MsgKeyRsp) == 64);

/// kBadLength if shorter than 32 bytes; kBadField if vmpl > 3 or reserved bits are set.
std::expected<MsgKeyReq, FwError> parse_key_req(std::span<const uint8_t> payload);
std::array<uint8_t, sizeof(MsgKeyReq)> serialize_key_req(const MsgKeyReq& req);
std::array<uint8_t, sizeof(MsgKeyRsp)> serialize_key_rsp(const MsgKeyRsp& rsp);
/// kBadLength if shorter than 64 bytes.
std::expected<MsgKeyRsp, FwError> parse_key_rsp(std::span<const uint8_t> payload);

/// The guest-context facts a derived key may mix in.
struct KeyInputs {
  uint64_t policy = 0;
  std::array<uint8_t, 16> image_id{};
  std::array<uint8_t, 16> family_id{};
  Digest384 measurement{};
  uint32_t guest_svn = 0;    // the guest's SVN from its ID block
  uint64_t current_tcb = 0;  // TCB_VERSION (Milan/Genoa layout) of the platform
  bool has_vmrk = false;     // a migration agent installed a VM root key
};
/// Derives the key MSG_KEY_REQ asks for, deterministically (real firmware keys are AMD secrets):
///   key = HKDF-SHA-384(IKM = seed, salt = "snpemu derived key",
///                      info = "KEY v1" || MsgKeyReq image with unselected-field values zeroed
///                             || each selected field of `inputs` in kKeyField* bit order, L = 32)
/// Checks, answered in MSG_KEY_RSP.status (INVALID_PARAM unless noted): vmpl in [key_vmpl, 3];
/// guest_svn <= inputs.guest_svn; each TCB component <= the current one; VMRK requested without
/// one installed, or KEY_SEL 2 (VLEK, not modelled) -> INVALID_KEY. UNCONFIRMED: the exact rules.
std::expected<std::array<uint8_t, 32>, FwError> derive_guest_key(
    std::span<const uint8_t> platform_seed, const MsgKeyReq& req, const KeyInputs& inputs,
    Vmpl key_vmpl);

// ===== secrets.cc =============================================================================

/// The OS area of the secrets page (96 bytes). PLATFORM-FACTS 8.8 [L asm/sev.h].
struct SecretsOsArea {
  uint32_t msg_seqno_0 = 0, msg_seqno_1 = 0, msg_seqno_2 = 0, msg_seqno_3 = 0;
  uint64_t ap_jump_table_pa = 0;
  std::array<uint8_t, 40> rsvd{};
  std::array<uint8_t, 32> guest_usage{};
};
static_assert(sizeof(SecretsOsArea) == 96);

/// The secrets page (4096 bytes). PLATFORM-FACTS 8.8 [L asm/sev.h snp_secrets_page].
struct SecretsPage {
  uint32_t version = 0;
  uint32_t imi_en = 0;
  uint32_t fms = 0;
  uint32_t rsvd0 = 0;
  std::array<uint8_t, 16> gosvw{};
  std::array<Vmpck, 4> vmpck{};
  SecretsOsArea os_area{};
  std::array<uint8_t, 64> vmsa_tweak_bitmap{};
  uint64_t svsm_base = 0;
  uint64_t svsm_size = 0;
  uint64_t svsm_caa = 0;
  uint32_t svsm_max_version = 0;
  uint8_t svsm_guest_vmpl = 0;
  std::array<uint8_t, 3> rsvd1{};
  uint32_t tsc_factor = 0;
  std::array<uint8_t, 3740> rsvd2{};
};
static_assert(offsetof(SecretsPage, gosvw) == 0x010);
static_assert(offsetof(SecretsPage, vmpck) == 0x020);
static_assert(offsetof(SecretsPage, os_area) == 0x0A0);
static_assert(offsetof(SecretsPage, vmsa_tweak_bitmap) == 0x100);
static_assert(offsetof(SecretsPage, svsm_base) == 0x140);
static_assert(offsetof(SecretsPage, svsm_max_version) == 0x158);
static_assert(offsetof(SecretsPage, svsm_guest_vmpl) == 0x15C);
static_assert(offsetof(SecretsPage, tsc_factor) == 0x160);
static_assert(sizeof(SecretsPage) == 4096);

/// Secrets page VERSION this model writes. UNCONFIRMED: ABI revisions define 2 and 3; 3 chosen
/// because the page carries the later fields (TSC factor).
inline constexpr uint32_t kSecretsPageVersion = 3;

/// Derives the four VMPCKs of one guest deterministically (real firmware draws them at random):
///   VMPCK[i] = HKDF-SHA-384(IKM = seed, salt = "snpemu VMPCK",
///                           info = "VMPCK" || u8 i || u64le guest_id, L = 32)
/// `guest_id` tells guests of one platform apart (e.g. a launch serial number).
/// kBadLength if the seed is shorter than ModelVcek::kMinSeedSize.
std::expected<std::array<Vmpck, 4>, FwError> derive_vmpcks(std::span<const uint8_t> platform_seed,
                                                           uint64_t guest_id);

/// What SNP_LAUNCH_UPDATE(SECRETS) writes besides the VMPCKs (from LAUNCH_START and the CPU).
struct SecretsInputs {
  bool imi_en = false;
  uint32_t fms = 0;  // CPUID Fn0000_0001_EAX family/model/stepping
  std::array<uint8_t, 16> gosvw{};
  uint32_t tsc_factor = 0;
};
/// The page the firmware writes: version, IMI_EN, FMS, GOSVW, VMPCKs, TSC factor; all else zero.
SecretsPage build_secrets_page(const std::array<Vmpck, 4>& vmpcks, const SecretsInputs& inputs);
std::array<uint8_t, 4096> serialize_secrets_page(const SecretsPage& page);
/// kBadLength unless exactly 4096 bytes.
std::expected<SecretsPage, FwError> parse_secrets_page(std::span<const uint8_t> bytes);

// ===== policy.cc ==============================================================================

/// The 64-bit guest policy, decoded. PLATFORM-FACTS 8.5 [L psp-sev.h SNP_POLICY_MASK_*].
struct GuestPolicy {
  uint8_t abi_minor = 0;                // bits 7:0
  uint8_t abi_major = 0;                // bits 15:8
  bool smt = false;                     // 16: SMT allowed
  bool rsvd_mbo = true;                 // 17: reserved, must be one
  bool migrate_ma = false;              // 18: migration agent allowed
  bool debug = false;                   // 19: debug allowed
  bool single_socket = false;           // 20
  bool cxl_allow = false;               // 21
  bool mem_aes_256_xts = false;         // 22
  bool rapl_dis = false;                // 23
  bool ciphertext_hiding_dram = false;  // 24
  bool page_swap_disable = false;       // 25
  uint64_t reserved_bits = 0;           // bits 63:26 as they were (must be zero)
  constexpr bool operator==(const GuestPolicy&) const = default;
};
GuestPolicy decode_policy(uint64_t policy);
uint64_t encode_policy(const GuestPolicy& policy);

/// The platform facts SNP_LAUNCH_START checks a policy against (a runtime option of the model).
struct PlatformPolicyConfig {
  uint8_t api_major = 1;  // firmware ABI version
  uint8_t api_minor = 55;
  bool smt_enabled = true;
  uint32_t sockets = 1;
  bool cxl_present = false;
  bool aes_256_xts_active = false;  // memory encryption uses AES-256-XTS
  bool rapl_disabled = false;       // SNP_INIT_EX rapl_dis
  bool ciphertext_hiding_enabled = false;
  /// Policy bits this firmware knows (SNP_FEATURE_INFO); others must be zero.
  uint64_t supported_policy_bits = (uint64_t{1} << 26) - 1;
};

/// The policy checks of SNP_LAUNCH_START; `ma_en` is the command's MA_EN flag. Returns
/// kPolicyFailure/POLICY_FAILURE naming the first failed rule.
std::expected<void, FwError> check_launch_start_policy(uint64_t policy,
                                                       const PlatformPolicyConfig& platform,
                                                       bool ma_en);


// ===== mailbox: mailbox.cc platform.cc gctx.cc launch.cc pages.cc guest_request.cc ============
//
// RMP page states the mailbox reads and writes (encodings of the SNP ABI page states in the
// RmpEntry fields; assigned / ASID / immutable / validated / VMSA):
//   Hypervisor       0 / 0 / 0 / 0 / 0 (all-zero entry)
//   Hypervisor-Fixed 0 / 0 / 1 / 0 / 0 (SNP_INIT_EX range list; RMPUPDATE then fails)
//                    UNCONFIRMED: encoding chosen as "immutable but unassigned".
//   Firmware         1 / 0 / 1 / 0 / 0 [L: Linux rmp_mark_pages_firmware = RMPUPDATE private
//                    with ASID 0, immutable; KVM gives the firmware its context page, the guest
//                    request response page and the platform status page in this state]
//   Context          1 / 0 / 1 / 1 / 0 UNCONFIRMED: the SNP ABI names a Context state but its
//                    encoding is not in our sources; "Firmware plus Validated" chosen so that a
//                    context page can be told from other firmware pages in the RMP alone.
//   Pre-Guest        1 / ASID / 1 / 0 / 0 (hypervisor's RMPUPDATE before LAUNCH_UPDATE [L KVM])
//   Guest-Valid      1 / ASID / 0 / 1 / (1 for VMSA pages) after LAUNCH_FINISH
//                    (UNCONFIRMED, PLATFORM-FACTS 11.11: the model keeps launched pages Pre-Guest
//                    until LAUNCH_FINISH, then validates them and clears Immutable in one step).
// Memory is plaintext (no per-ASID cipher yet): pages the firmware writes (secrets, CPUID, zero)
// are stored as they would look to the guest.

/// Platform state. PLATFORM-FACTS 8.1 (0 UNINIT, 1 INIT).
enum class PlatformState : uint8_t { kUninit = 0, kInit = 1 };
/// Guest context state (SNP ABI GSTATE_*; UNCONFIRMED numbering: INIT 0, LAUNCH 1, RUNNING 2).
enum class GuestState : uint8_t { kInit = 0, kLaunch = 1, kRunning = 2 };

/// The platform facts of one machine's firmware (a runtime option of the model).
struct FirmwareConfig {
  std::vector<uint8_t> platform_seed;  // >= ModelVcek::kMinSeedSize bytes; VCEK, VMPCKs, keys
  uint8_t api_major = 1, api_minor = 55;
  uint32_t build_id = 21;
  TcbLayout tcb_layout = TcbLayout::kMilanGenoa;
  uint64_t current_tcb = 0;    // PLATFORM_VERSION / CURRENT_TCB
  uint64_t reported_tcb = 0;   // REPORTED_TCB
  uint64_t committed_tcb = 0;  // COMMITTED_TCB
  uint8_t committed_build = 21, committed_minor = 55, committed_major = 1;
  uint64_t platform_info = 0;
  std::array<uint8_t, 64> chip_id{};
  bool mask_chip_id = false;
  uint32_t fms = 0x00A00F11;  // CPUID Fn0000_0001_EAX (Milan B1), secrets page FMS
  PlatformPolicyConfig policy;      // api_major/minor above override policy.api_*
  std::vector<CpuidRule> cpuid_rules;  // the CPUID page check (sanitize_cpuid_page)
  uint32_t max_asid = 509;  // ASIDs 1..max_asid usable by SNP (ESTIMATE: a Milan part's count)
  /// UNCONFIRMED (PLATFORM-FACTS 8.10 lists WBINVD before DF_FLUSH in Linux's order): when set,
  /// SNP_DF_FLUSH returns WBINVD_REQUIRED unless note_wbinvd_all_cpus() was called since the last
  /// flush (the core integration calls it when every core has executed WBINVD).
  bool df_flush_needs_wbinvd = true;
};

/// One page launched into a guest (kept until LAUNCH_FINISH turns it Guest-Valid).
struct LaunchedPage {
  Pfn pfn;
  PageType type = PageType::kNormal;
  std::array<uint8_t, 3> vmpl_perms{};  // VMPL1..3 from the command
};

/// The firmware's view of one guest context (keyed by its context page).
struct GuestContextInfo {
  Hpa gctx;
  uint64_t guest_id = 0;  // serial number of the GCTX_CREATE (VMPCK derivation input)
  GuestState state = GuestState::kInit;
  Asid asid{};  // 0 until SNP_ACTIVATE
  uint64_t policy = 0;
  bool imi_en = false;
  uint32_t desired_tsc_khz = 0;
  std::array<uint8_t, 16> gosvw{};
  std::array<Vmpck, 4> vmpcks{};
  GuestChannel channel{std::array<Vmpck, 4>{}};
  LaunchDigest digest;
  std::vector<LaunchedPage> launched;
  uint64_t launch_tcb = 0;
  // From LAUNCH_FINISH.
  bool id_block_en = false, author_key_en = false, vcek_disabled = false;
  IdBlock id_block{};
  Digest384 id_key_digest{}, author_key_digest{};
  std::array<uint8_t, 32> host_data{};
  std::array<uint8_t, 32> report_id{};
};

/// SNP_PLATFORM_STATUS output (32 bytes). UNCONFIRMED layout: Linux uapi psp-sev.h
/// sev_user_data_snp_status, not in PLATFORM-FACTS.
struct PlatformStatusPage {
  uint8_t api_major = 0, api_minor = 0, state = 0;
  uint8_t is_rmp_initialized = 0;  // bit 0
  uint32_t build_id = 0;
  uint32_t flags = 0;  // bit 0 mask_chip_id, 4 rapl_dis, 6 ciphertext_hiding_en
  uint32_t guest_count = 0;
  uint64_t current_tcb_version = 0;
  uint64_t reported_tcb_version = 0;
};
static_assert(offsetof(PlatformStatusPage, build_id) == 4);
static_assert(offsetof(PlatformStatusPage, guest_count) == 0x0C);
static_assert(sizeof(PlatformStatusPage) == 32);

/// SNP_GUEST_STATUS output. UNCONFIRMED layout (SNP ABI GUEST_STATUS from memory, not in
/// PLATFORM-FACTS): POLICY u64, ASID u32, STATE u8, reserved, VCEK_DIS bit 0 of u32 @0x10.
struct GuestStatusPage {
  uint64_t policy = 0;
  uint32_t asid = 0;
  uint8_t state = 0;
  std::array<uint8_t, 3> rsvd{};
  uint32_t vcek_dis = 0;
  uint32_t rsvd2 = 0;
};
static_assert(offsetof(GuestStatusPage, vcek_dis) == 0x10);
static_assert(sizeof(GuestStatusPage) == 24);

/// Work done by the last command, for the timing model (the hook: the core integration converts
/// these counts into cycles from the timing table; the firmware charges nothing itself).
struct CommandWork {
  uint32_t rmp_reads = 0;
  uint32_t rmp_writes = 0;
  uint32_t pages_hashed = 0;  // SHA-384 over a 4 KiB page (NORMAL/VMSA contents)
  uint32_t digest_steps = 0;  // SHA-384 over one PAGE_INFO
  uint32_t pages_written = 0;
  uint32_t signatures = 0;     // ECDSA P-384 signs
  uint32_t aead_messages = 0;  // AES-256-GCM open or seal
};

/// The AMD-SP mailbox: the hypervisor writes a command buffer to host memory and issues a
/// command id with the buffer's address; the firmware reads the buffer through the typed codecs,
/// checks platform, guest and RMP state, acts and returns the status (PLATFORM-FACTS 8.9).
/// Every command checks everything before it acts: a failure changes nothing (exception, as the
/// spec says: a CPUID LAUNCH_UPDATE refused with INVALID_PARAM writes the corrected CPUID page
/// back, PLATFORM-FACTS 8.3). The firmware writes the RMP directly (Rmp::store), not through
/// RMPUPDATE. No global state; two Firmware objects on two machines are independent.
class Firmware {
 public:
  /// kBadLength if the seed is too short (VCEK derivation).
  static std::expected<Firmware, FwError> create(Memory& mem, rmp::Rmp& rmp,
                                                 FirmwareConfig config);

  /// Executes one mailbox command. Unknown ids: INVALID_COMMAND; known SNP ids this model does
  /// not implement (DBG, SWAP, CONFIG, ...): UNSUPPORTED (UNCONFIRMED). The buffer is read from
  /// host memory at `command_buffer`; a buffer outside RAM is INVALID_ADDRESS.
  Status command(CommandId id, Hpa command_buffer);
  /// Same with a raw id (from a trace or a fuzzer).
  Status command(uint32_t id, Hpa command_buffer) { return command(CommandId{id}, command_buffer); }

  /// The core integration reports that every core executed WBINVD (see df_flush_needs_wbinvd).
  void note_wbinvd_all_cpus() { wbinvd_done_ = true; }

  PlatformState platform_state() const { return state_; }
  /// The context whose context page is `gctx`, or null.
  const GuestContextInfo* guest(Hpa gctx) const;
  size_t guest_count() const { return guests_.size(); }
  /// The model VCEK (its public key verifies every report this firmware signs).
  const ModelVcek& vcek() const { return vcek_; }
  /// One line explaining the last failure ("" after success), e.g. "LAUNCH_UPDATE: page
  /// 0x5000 is assigned to ASID 3, expected 1".
  const std::string& last_error() const { return last_error_; }
  /// Work counters of the last command (the cycle-charging hook).
  const CommandWork& last_work() const { return work_; }
  /// SHA-384 over all firmware state (platform and every context), for "a failed command changes
  /// nothing" checks and trace state hashes.
  Digest384 fingerprint() const;
  /// Cross-checks the firmware's state against the RMP: context pages in the Context state, no
  /// page both firmware-owned and launched into a guest, launched pages assigned to their
  /// guest's ASID, one context per ASID. Returns the violations (empty when consistent).
  std::vector<std::string> check_invariants() const;

 private:
  Firmware(Memory& mem, rmp::Rmp& rmp, FirmwareConfig config, ModelVcek vcek)
      : mem_(&mem), rmp_(&rmp), config_(std::move(config)), vcek_(std::move(vcek)) {}

  // A handler: reads its buffer at `buf`, returns the status. Errors set last_error_.
  using Handler = Status (Firmware::*)(Hpa buf);
  static Handler handler_for(CommandId id);

  // platform.cc
  Status snp_init(Hpa buf);
  Status snp_init_ex(Hpa buf);
  Status snp_shutdown(Hpa buf);
  Status snp_shutdown_ex(Hpa buf);
  Status snp_platform_status(Hpa buf);
  Status snp_df_flush(Hpa buf);
  Status init_common(const CmdInitEx& cmd);
  // gctx.cc
  Status snp_gctx_create(Hpa buf);
  Status snp_activate(Hpa buf);
  Status snp_decommission(Hpa buf);
  Status snp_guest_status(Hpa buf);
  // launch.cc
  Status snp_launch_start(Hpa buf);
  Status snp_launch_update(Hpa buf);
  Status snp_launch_finish(Hpa buf);
  // pages.cc
  Status snp_page_reclaim(Hpa buf);
  Status snp_page_unsmash(Hpa buf);
  // guest_request.cc
  Status snp_guest_request(Hpa buf);

  // Helpers (mailbox.cc).
  Status fail(Status status, std::string message);
  Status fail(const FwError& error, std::string_view context);
  // Reads `size` bytes at `pa` into `out`; false (and last_error_) if outside RAM.
  bool read_host(Hpa pa, std::span<uint8_t> out, std::string_view what);
  // The context at `gctx` in one of `states` (INVALID_GUEST / INVALID_GUEST_STATE otherwise).
  std::expected<GuestContextInfo*, Status> live_guest(Hpa gctx, std::initializer_list<GuestState>);
  Status require_init();

  Memory* mem_;
  rmp::Rmp* rmp_;
  FirmwareConfig config_;
  ModelVcek vcek_;
  PlatformState state_ = PlatformState::kUninit;
  bool wbinvd_done_ = false;
  bool rapl_dis_ = false, ciphertext_hiding_en_ = false;
  uint32_t max_snp_asid_ = 0;  // 0: config_.max_asid
  std::vector<uint64_t> asids_need_flush_;  // decommissioned, not yet DF_FLUSHed (sorted)
  std::vector<GuestContextInfo> guests_;    // in GCTX_CREATE order
  uint64_t next_guest_id_ = 1;
  std::string last_error_;
  CommandWork work_;
};

}  // namespace snpemu::fw
