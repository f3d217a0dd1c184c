// firmware/report_layout.h: the attestation report (0x4A0 bytes) and its ECDSA signature field,
// as the firmware writes them; pure layout tables, every offset static_assert'ed (PLATFORM-FACTS
// 8.6). Included by firmware/firmware.h; include that instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "firmware/abi_types.h"

namespace snpemu::fw {

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

}  // namespace snpemu::fw
