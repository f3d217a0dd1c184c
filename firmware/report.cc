// firmware/report.cc: the attestation report image (parse, serialize) and TCB_VERSION codec.
#include <bit>
#include <cstring>
#include <type_traits>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

// The report is the hardware's little-endian image; copying bytes is exact on this host.
static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<AttestationReport>);

std::expected<AttestationReport, FwError> parse_report(std::span<const uint8_t> bytes) {
  if (bytes.size() != kReportSize) {
    return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidLength,
                                       "attestation report is " + std::to_string(bytes.size()) +
                                           " bytes, expected " + std::to_string(kReportSize)));
  }
  AttestationReport report;
  std::memcpy(&report, bytes.data(), kReportSize);
  if (report.version < kReportVersionMin || report.version > kReportVersionMax) {
    return std::unexpected(ossl::error(
        ErrorKind::kBadVersion, Status::kBadVersion,
        "attestation report VERSION " + std::to_string(report.version) + " not in " +
            std::to_string(kReportVersionMin) + ".." + std::to_string(kReportVersionMax)));
  }
  if (report.signature_algo != kSigAlgoEcdsaP384Sha384) {
    return std::unexpected(ossl::error(ErrorKind::kBadAlgorithm, Status::kInvalidParam,
                                       "attestation report SIGNATURE_ALGO " +
                                           std::to_string(report.signature_algo) +
                                           ", expected 1 (ECDSA P-384 with SHA-384)"));
  }
  if (report.vmpl > 3) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                    "attestation report VMPL " + std::to_string(report.vmpl) + " exceeds 3"));
  }
  return report;
}

std::array<uint8_t, kReportSize> serialize_report(const AttestationReport& report) {
  std::array<uint8_t, kReportSize> out;
  std::memcpy(out.data(), &report, kReportSize);
  return out;
}

TcbVersion decode_tcb(uint64_t raw, TcbLayout layout) {
  auto byte = [raw](int i) { return static_cast<uint8_t>(raw >> (8 * i)); };
  TcbVersion tcb;
  if (layout == TcbLayout::kMilanGenoa) {
    // PLATFORM-FACTS 8.6: 0 boot loader, 1 TEE, 2-5 reserved, 6 SNP, 7 microcode
    tcb.boot_loader = byte(0);
    tcb.tee = byte(1);
    tcb.snp = byte(6);
    tcb.microcode = byte(7);
  } else {
    // PLATFORM-FACTS 8.6 [L psp-sev.h]: 0 FMC, 1 boot loader, 2 TEE, 3 SNP, 4-6 reserved, 7 ucode
    tcb.fmc = byte(0);
    tcb.boot_loader = byte(1);
    tcb.tee = byte(2);
    tcb.snp = byte(3);
    tcb.microcode = byte(7);
  }
  return tcb;
}

uint64_t encode_tcb(const TcbVersion& tcb, TcbLayout layout) {
  auto at = [](uint8_t v, int i) { return uint64_t{v} << (8 * i); };
  if (layout == TcbLayout::kMilanGenoa) {
    return at(tcb.boot_loader, 0) | at(tcb.tee, 1) | at(tcb.snp, 6) | at(tcb.microcode, 7);
  }
  return at(tcb.fmc, 0) | at(tcb.boot_loader, 1) | at(tcb.tee, 2) | at(tcb.snp, 3) |
         at(tcb.microcode, 7);
}

}  // namespace snpemu::fw
