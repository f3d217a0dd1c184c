// firmware/msg_layout.h: guest messages (SNP_GUEST_REQUEST): message types, the 96-byte header
// and the MSG_REPORT / MSG_KEY payloads; pure layout tables, every offset static_assert'ed
// (PLATFORM-FACTS 8.6, 8.7). Included by firmware/firmware.h; include that instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "firmware/report_layout.h"

namespace snpemu::fw {

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

}  // namespace snpemu::fw
