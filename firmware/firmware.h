// firmware/firmware.h: the AMD Secure Processor (SNP firmware) model: codecs, crypto and the
// mailbox (class Firmware, over Memory and the RMP).
//
// Layout tables (pure data, offsets static_assert'ed; included below: include this header):
//   abi_types.h      Digest384, Vmpck
//   status_code.h    Status (firmware status codes)
//   report_layout.h  AttestationReport, EcdsaSignature, report constants and FLAGS bits
//   id_block_layout.h  SnpPublicKey, IdBlock, IdAuth
//   page_layout.h    PageType, kVmsaGpa, PageInfo, CpuidEntry, CpuidPage, SecretsPage
//   command_layout.h CommandId, the decoded command buffers, PlatformStatusPage, GuestStatusPage
//   msg_layout.h     MsgType, GuestMsgHeader, MsgReportReq/Rsp, MsgKeyReq/Rsp
//   sev_command_layout.h  legacy SEV/SEV-ES wire buffers SevData* (psp-sev.h sev_data_*),
//                    SEV policy bits, TMR and NV sizes
//
// Table of contents, grouped by the file that defines each part:
//   status.cc        status_name, FwError (every error value in this package)
//   report.cc        AttestationReport parse/serialize, TCB_VERSION decode
//   certificate.cc   Certificate (X.509), VerifyingKey, VCEK -> ASK -> ARK chain check
//   ecdsa.cc         ECDSA P-384/SHA-384: verify a report signature, RFC 6979 deterministic sign
//   vcek.cc          ModelVcek: the deterministic model VCEK derived from a platform seed;
//                    platform_seed_from_machine_seed (MachineConfig::seed -> platform seed)
//   report_build.cc  ReportInputs -> a signed report (what MSG_REPORT_REQ produces)
//   id_block.cc      IdBlock, IdAuth, SnpPublicKey codecs and the SNP_LAUNCH_FINISH ID-block checks
//   measure.cc       LaunchDigest: the SNP_LAUNCH_UPDATE SHA-384 chain over PageInfo
//   cpuid_page.cc    CpuidPage codec and the firmware's CPUID page check
//   commands.cc      command_name, command buffer parse/serialize
//   guest_msg.cc     GuestMsgHeader checks, AES-256-GCM seal/open, GuestChannel (sequence numbers)
//   report_msg.cc    MSG_REPORT_REQ / MSG_REPORT_RSP payload codecs
//   key_msg.cc       MSG_KEY_REQ / MSG_KEY_RSP payload codecs and the model's derived guest keys
//   secrets.cc       SecretsPage codec, VMPCK derivation from the platform seed
//   vek.cc           derive_vek: the VM encryption key of a guest context from the platform seed
//   policy.cc        GuestPolicy decode/encode and the SNP_LAUNCH_START policy checks
//   sev_keys.cc      legacy SEV guests: derive_sev_guest_keys (VEK, TEK, TIK, MNONCE from the
//                    platform seed and the handle), sev_launch_measurement (the HMAC)
//   The mailbox (class Firmware, section "mailbox" at the end; needs Memory and the RMP):
//   mailbox.cc       FirmwareConfig, Firmware::create (optionally with the memory controller's
//                    key slots), command() dispatch, invariants, fingerprint
//   platform.cc      SNP_INIT, SNP_INIT_EX (range list), SNP_SHUTDOWN(_EX), SNP_PLATFORM_STATUS,
//                    SNP_DF_FLUSH
//   gctx.cc          SNP_GCTX_CREATE (VEK), SNP_ACTIVATE (installs the VEK in the ASID's key
//                    slot), SNP_DECOMMISSION (removes it), SNP_GUEST_STATUS
//   launch.cc        SNP_LAUNCH_START, SNP_LAUNCH_UPDATE (measure, then encrypt in place),
//                    SNP_LAUNCH_FINISH
//   pages.cc         RMP page-state predicates, SNP_PAGE_RECLAIM, SNP_PAGE_UNSMASH
//   guest_request.cc SNP_GUEST_REQUEST (MSG_REPORT_REQ, MSG_KEY_REQ)
//   Legacy SEV / SEV-ES guests (section "legacy SEV" in the mailbox section):
//   sev_platform.cc  INIT, INIT_EX, SHUTDOWN, PLATFORM_STATUS, DF_FLUSH; the RMP rule for the
//                    buffers of legacy commands once SNP is initialised
//   sev_guest.cc     ACTIVATE (installs the guest's VEK in the ASID's key slot), DEACTIVATE
//                    (removes it), DECOMMISSION, GUEST_STATUS
//   sev_launch.cc    LAUNCH_START, LAUNCH_UPDATE_DATA / _VMSA (measure, encrypt in place),
//                    LAUNCH_MEASURE, LAUNCH_FINISH
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
#include "emu/memcrypt/memcrypt.h"
#include "firmware/abi_types.h"
#include "firmware/command_layout.h"
#include "firmware/id_block_layout.h"
#include "firmware/msg_layout.h"
#include "firmware/page_layout.h"
#include "firmware/report_layout.h"
#include "firmware/sev_command_layout.h"
#include "firmware/status_code.h"
#include "rmp/rmp.h"

struct evp_pkey_st;  // OpenSSL EVP_PKEY
struct x509_st;      // OpenSSL X509
struct evp_md_ctx_st;  // OpenSSL EVP_MD_CTX

namespace snpemu::fw {

// ===== status.cc ==============================================================================

// Status, the firmware status codes: status_code.h.

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

// AttestationReport, EcdsaSignature, the report constants and FLAGS bits: report_layout.h.

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

// SnpPublicKey, IdBlock, IdAuth: id_block_layout.h.

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

// PageType, kVmsaGpa, kMaxGpa and PageInfo: page_layout.h.

/// "normal", "vmsa", ... ("invalid" for other values).
std::string_view page_type_name(PageType type);

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

// CpuidEntry, CpuidPage: page_layout.h.

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

// CommandId and the decoded command buffers (CmdAddr ... CmdShutdownEx): command_layout.h.

/// "SNP_LAUNCH_START", ... ("UNKNOWN" for other values).
std::string_view command_name(CommandId id);

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

// MsgType, GuestMsgHeader and the message constants: msg_layout.h.

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

// MsgReportReq, MsgReportRsp: msg_layout.h.

/// Parses a request payload; kBadLength if shorter than 96 bytes (UNCONFIRMED: longer payloads
/// accepted, extra bytes ignored), kBadField if vmpl > 3.
std::expected<MsgReportReq, FwError> parse_report_req(std::span<const uint8_t> payload);
std::array<uint8_t, sizeof(MsgReportReq)> serialize_report_req(const MsgReportReq& req);
/// The response payload; a failed request carries only the 32-byte status part.
std::vector<uint8_t> serialize_report_rsp(const MsgReportRsp& rsp);
/// Parses a response payload (the guest side); the report is parsed only when status is 0.
std::expected<MsgReportRsp, FwError> parse_report_rsp(std::span<const uint8_t> payload);

// ===== key_msg.cc =============================================================================

// MsgKeyReq, the GUEST_FIELD_SELECT bits, MsgKeyRsp: msg_layout.h.

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

// SecretsOsArea, SecretsPage, kSecretsPageVersion: page_layout.h.

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

// ===== vek.cc =================================================================================

/// Derives the VM encryption key (VEK) of one guest context deterministically (real firmware
/// draws a fresh random key for every guest context and never lets it leave the AMD-SP):
///   okm = HKDF-SHA-384(IKM = seed, salt = "snpemu VEK",
///                      info = "VEK v1" || u64le guest_id || u64le gctx_pfn, L = 16)
///   Key{lo = u64le(okm[0..7]), hi = u64le(okm[8..15])}
/// `guest_id` is the platform's GCTX_CREATE serial number (GuestContextInfo::guest_id) and
/// `gctx` the context page, so two contexts of one platform get different keys and the same
/// seed and command sequence give the same keys. The Firmware object hands out no VEK: it only
/// programs the memory controller (SNP_ACTIVATE) and encrypts launched pages; this function is
/// public so that tests and offline tools (decrypting a trace) can reproduce a key. The
/// hypervisor model must not call it. kBadLength if the seed is shorter than
/// ModelVcek::kMinSeedSize.
std::expected<memcrypt::Key, FwError> derive_vek(std::span<const uint8_t> platform_seed,
                                                 uint64_t guest_id, Pfn gctx);

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

// ===== sev_keys.cc ============================================================================

/// The keys of one legacy SEV guest. On hardware the firmware draws the VEK, and (without a
/// guest-owner session) the TEK and TIK, from its random number generator; the model derives
/// them deterministically by design (no host randomness), as for SNP's derive_vek:
///   okm = HKDF-SHA-384(IKM = seed, salt = "snpemu legacy SEV",
///                      info = "SEV guest keys v1" || u32le handle, L = 64)
///   VEK = {lo = u64le(okm[0..7]), hi = u64le(okm[8..15])}, TEK = okm[16..31],
///   TIK = okm[32..47], MNONCE = okm[48..63]
/// Handles are never reused by one Firmware object, so every guest gets its own keys. Public
/// for tests and offline tools (the hypervisor model must not call it). kBadLength if the seed
/// is shorter than ModelVcek::kMinSeedSize.
struct SevGuestKeys {
  memcrypt::Key vek;
  std::array<uint8_t, 16> tek{};
  std::array<uint8_t, 16> tik{};
  std::array<uint8_t, 16> mnonce{};  // the nonce LAUNCH_MEASURE reports
};
std::expected<SevGuestKeys, FwError> derive_sev_guest_keys(std::span<const uint8_t> platform_seed,
                                                           uint32_t handle);

/// The LAUNCH_MEASURE measurement (SEV API spec, LAUNCH_MEASURE):
///   HMAC-SHA-256(key = TIK, 0x04 || API_MAJOR || API_MINOR || BUILD || u32le POLICY ||
///                LD[32] || MNONCE[16])
/// where LD is SHA-256 over everything LAUNCH_UPDATE_DATA and LAUNCH_UPDATE_VMSA measured, in
/// command order. kCrypto on a libcrypto failure.
std::expected<std::array<uint8_t, 32>, FwError> sev_launch_measurement(
    const std::array<uint8_t, 16>& tik, uint8_t api_major, uint8_t api_minor, uint8_t build,
    uint32_t policy, const std::array<uint8_t, 32>& launch_digest,
    const std::array<uint8_t, 16>& mnonce);

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
// Memory encryption (Firmware::create's `keys`): each guest context gets a VEK at GCTX_CREATE
// (derive_vek); SNP_ACTIVATE installs it in the memory controller's slot of the ASID and
// SNP_DECOMMISSION removes it; SNP_LAUNCH_UPDATE measures the plaintext and then leaves the page
// encrypted in place with the VEK at its host-physical address, for every page type (the ZERO
// page is zeroed, the SECRETS page written, then encrypted) [L Documentation/virt/kvm/x86/
// amd-memory-encryption.rst, KVM_SEV_SNP_LAUNCH_UPDATE: contents measured, then encrypted so that
// the guest context's key reads them; L KVM sev.c, legacy SEV LAUNCH_UPDATE_DATA / _VMSA: the
// firmware encrypts in place; 3P virtee/sev PageType::Unmeasured: encrypted but not measured;
// UNCONFIRMED from the SNP ABI text itself]. Pages the hypervisor and the
// firmware exchange (command buffers, status pages, guest request and response pages) stay
// plain. Without a KeyTable memory is plaintext: pages the firmware writes (secrets, CPUID,
// zero) are stored as they would look to the guest.

/// Platform state. PLATFORM-FACTS 8.1 (0 UNINIT, 1 INIT).
enum class PlatformState : uint8_t { kUninit = 0, kInit = 1 };
/// Guest context state (SNP ABI GSTATE_*; UNCONFIRMED numbering: INIT 0, LAUNCH 1, RUNNING 2).
enum class GuestState : uint8_t { kInit = 0, kLaunch = 1, kRunning = 2 };

// ----- legacy SEV (sev_platform.cc, sev_guest.cc, sev_launch.cc) -----
// The legacy SEV API has its own platform state and guests named by a 32-bit handle instead of
// a context page. Legacy guest memory is not in the RMP's guest states (SEV and SEV-ES guests
// use hypervisor pages); once SNP is initialised, Linux puts every buffer a legacy command
// writes (the command buffer of PLATFORM_STATUS, GUEST_STATUS, LAUNCH_START, LAUNCH_MEASURE; the
// LAUNCH_MEASURE output; the LAUNCH_UPDATE_DATA / _VMSA range, which the firmware encrypts in
// place) in the Firmware state before the command and reclaims it afterwards [L drivers/crypto/
// ccp/sev-dev.c snp_populate_cmd_buf_desc_list, snp_map_cmd_buf_desc: rmp_mark_pages_firmware,
// sev_cmd_buf_writable, snp_prep_cmd_buf: "Before command execution, the command buffer needs
// to be put into the firmware-owned state"]. The model requires that state and answers
// INVALID_PAGE_STATE otherwise (UNCONFIRMED status, chosen as for SNP_PLATFORM_STATUS's status
// page). Before SNP_INIT the RMP is not consulted. ACTIVATE installs the guest's VEK in the key
// slot of its ASID, DEACTIVATE removes it; the ASID is reusable after DF_FLUSH (either flush
// command: one list of ASIDs waiting for a flush, UNCONFIRMED).

/// Legacy platform state. PLATFORM-FACTS 8.1 [L psp-sev.h enum sev_state].
enum class SevPlatformState : uint8_t { kUninit = 0, kInit = 1, kWorking = 2 };
/// Legacy guest state (SEV API spec GSTATE; UNCONFIRMED numbering, from memory of the spec's
/// table: UNINIT 0, LUPDATE 1, LSECRET 2, RUNNING 3, SUPDATE 4, RUPDATE 5, SENT 6).
enum class SevGuestState : uint8_t {
  kUninit = 0,
  kLupdate = 1,
  kLsecret = 2,
  kRunning = 3,
  kSupdate = 4,
  kRupdate = 5,
  kSent = 6,
};

/// The firmware's view of one legacy guest.
struct SevGuestInfo {
  uint32_t handle = 0;
  uint32_t policy = 0;  // 32-bit SEV policy (sev_policy bits)
  SevGuestState state = SevGuestState::kUninit;
  Asid asid{};  // 0 while inactive
  uint64_t measured_bytes = 0;     // bytes LAUNCH_UPDATE_DATA / _VMSA measured so far
  std::array<uint8_t, 32> update_chain{};  // SHA-256 chain over the updates (fingerprint only)
  uint32_t vmsa_count = 0;
  std::array<uint8_t, 32> launch_digest{};  // LD, fixed at LAUNCH_MEASURE
  std::array<uint8_t, 32> measurement{};    // written at LAUNCH_MEASURE
};

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

// PlatformStatusPage, GuestStatusPage (command output pages): command_layout.h.

/// Work done by the last command, for the timing model (the hook: the core integration converts
/// these counts into cycles from the timing table; the firmware charges nothing itself).
struct CommandWork {
  uint32_t rmp_reads = 0;
  uint32_t rmp_writes = 0;
  uint32_t pages_hashed = 0;  // SHA-384 over a 4 KiB page (NORMAL/VMSA contents)
  uint32_t digest_steps = 0;  // SHA-384 over one PAGE_INFO
  uint32_t pages_written = 0;
  uint32_t pages_encrypted = 0;  // 4 KiB passed through the VEK (each also in pages_written)
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
  /// kBadLength if the seed is too short (VCEK derivation). `keys`: the memory controller's key
  /// slots, shared with the machine's cores (cpu::CoreConfig::keys) and outliving the firmware;
  /// with them the firmware installs each guest's VEK at SNP_ACTIVATE, removes it at
  /// SNP_DECOMMISSION and encrypts launched pages (mailbox section above). nullptr: memory
  /// encryption is not modelled and memory stays plaintext.
  static std::expected<Firmware, FwError> create(Memory& mem, rmp::Rmp& rmp,
                                                 FirmwareConfig config,
                                                 memcrypt::KeyTable* keys = nullptr);

  /// Executes one mailbox command. Unknown ids: INVALID_COMMAND; known ids this model does not
  /// implement (SNP DBG, SWAP, CONFIG, ...; legacy PEK/PDH, LAUNCH_UPDATE_SECRET, SEND/RECEIVE,
  /// DBG, ...): UNSUPPORTED (UNCONFIRMED). The buffer is read from
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
  /// Legacy SEV platform state and guests (section "legacy SEV" above).
  SevPlatformState sev_platform_state() const { return sev_state_; }
  /// The legacy guest with `handle`, or null.
  const SevGuestInfo* sev_guest(uint32_t handle) const;
  size_t sev_guest_count() const { return sev_guests_.size(); }
  /// The model VCEK (its public key verifies every report this firmware signs).
  const ModelVcek& vcek() const { return vcek_; }
  /// True if this firmware programs a KeyTable (memory encryption is modelled).
  bool encrypts_memory() const { return keys_ != nullptr; }
  /// One line explaining the last failure ("" after success), e.g. "LAUNCH_UPDATE: page
  /// 0x5000 is assigned to ASID 3, expected 1".
  const std::string& last_error() const { return last_error_; }
  /// Work counters of the last command (the cycle-charging hook).
  const CommandWork& last_work() const { return work_; }
  /// SHA-384 over all firmware state (platform, every context, the legacy platform and every
  /// legacy guest), for "a failed command changes nothing" checks and trace state hashes.
  Digest384 fingerprint() const;
  /// Cross-checks the firmware's state against the RMP: context pages in the Context state, no
  /// page both firmware-owned and launched into a guest, launched pages assigned to their
  /// guest's ASID, one context per ASID; with a KeyTable, the slot of every bound ASID holds its
  /// guest's VEK; legacy guests only on an initialised legacy platform (WORKING exactly while
  /// they exist), one guest per ASID across SNP and legacy guests, every active legacy guest's
  /// slot holding its VEK. Returns the violations (empty when consistent).
  std::vector<std::string> check_invariants() const;

 private:
  Firmware(Memory& mem, rmp::Rmp& rmp, FirmwareConfig config, ModelVcek vcek,
           memcrypt::KeyTable* keys)
      : mem_(&mem), rmp_(&rmp), keys_(keys), config_(std::move(config)), vcek_(std::move(vcek)) {}

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
  // sev_platform.cc
  Status sev_init(Hpa buf);
  Status sev_init_ex(Hpa buf);
  Status sev_init_common(uint32_t flags, uint64_t tmr_address, uint32_t tmr_len,
                         std::string_view name);
  Status sev_shutdown(Hpa buf);
  Status sev_platform_status(Hpa buf);
  Status sev_df_flush(Hpa buf);
  // sev_guest.cc
  Status sev_activate(Hpa buf);
  Status sev_deactivate(Hpa buf);
  Status sev_decommission(Hpa buf);
  Status sev_guest_status(Hpa buf);
  // sev_launch.cc
  Status sev_launch_start(Hpa buf);
  Status sev_launch_update_data(Hpa buf);
  Status sev_launch_update_vmsa(Hpa buf);
  Status sev_launch_update(Hpa buf, bool vmsa);
  Status sev_launch_measure(Hpa buf);
  Status sev_launch_finish(Hpa buf);
  // Legacy helpers (sev_platform.cc).
  Status require_sev_init();  // legacy platform INIT or WORKING
  // The legacy guest `handle` in one of `states` (INVALID_GUEST / INVALID_GUEST_STATE).
  std::expected<SevGuestInfo*, Status> live_sev_guest(uint32_t handle, std::string_view name,
                                                      std::initializer_list<SevGuestState>);
  // Once SNP is initialised: every page of [pa, pa + len) must be a Firmware page
  // (INVALID_PAGE_STATE otherwise; INVALID_ADDRESS outside RAM or the RMP).
  Status require_legacy_fw_pages(Hpa pa, uint64_t len, std::string_view what);
  // The ASID `asid` is bound to some guest (SNP or legacy).
  bool asid_in_use(uint32_t asid) const;

  // Helpers (mailbox.cc).
  Status fail(Status status, std::string message);
  Status fail(const FwError& error, std::string_view context);
  // Reads `size` bytes at `pa` into `out`; false (and last_error_) if outside RAM.
  bool read_host(Hpa pa, std::span<uint8_t> out, std::string_view what);
  // The context at `gctx` in one of `states` (INVALID_GUEST / INVALID_GUEST_STATE otherwise).
  std::expected<GuestContextInfo*, Status> live_guest(Hpa gctx, std::initializer_list<GuestState>);
  Status require_init();
  // The VEK of `g` (derived at GCTX_CREATE; kept out of GuestContextInfo, which is public).
  const memcrypt::Key& vek(const GuestContextInfo& g) const;

  Memory* mem_;
  rmp::Rmp* rmp_;
  memcrypt::KeyTable* keys_;  // null: memory encryption not modelled
  FirmwareConfig config_;
  ModelVcek vcek_;
  PlatformState state_ = PlatformState::kUninit;
  bool wbinvd_done_ = false;
  bool rapl_dis_ = false, ciphertext_hiding_en_ = false;
  uint32_t max_snp_asid_ = 0;  // 0: config_.max_asid
  std::vector<uint64_t> asids_need_flush_;  // decommissioned, not yet DF_FLUSHed (sorted)
  std::vector<GuestContextInfo> guests_;    // in GCTX_CREATE order
  std::vector<memcrypt::Key> veks_;         // veks_[i] belongs to guests_[i]; never leaves here
  // Legacy SEV.
  struct SevSecrets {  // sev_secrets_[i] belongs to sev_guests_[i]; never leaves here
    SevGuestKeys keys;
    // SHA-256 state over the plaintext measured so far (LD). Never mutated once stored: each
    // update stores a fresh context, so copies of a Firmware never share mutable state.
    std::shared_ptr<evp_md_ctx_st> ld;
  };
  SevPlatformState sev_state_ = SevPlatformState::kUninit;
  bool sev_es_enabled_ = false;  // INIT flags SEV_ES
  uint64_t sev_tmr_address_ = 0;
  uint32_t sev_tmr_len_ = 0;
  uint32_t next_sev_handle_ = 1;  // never reset: handles (and so keys) are never reused
  std::vector<SevGuestInfo> sev_guests_;
  std::vector<SevSecrets> sev_secrets_;
  uint64_t next_guest_id_ = 1;
  std::string last_error_;
  CommandWork work_;
};

}  // namespace snpemu::fw
