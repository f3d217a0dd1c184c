// firmware/sev_command_layout.h: the legacy SEV / SEV-ES command buffers (ids 0x001-0x035,
// PLATFORM-FACTS 8.1), byte for byte: packed little-endian wire structs, read and written with
// memcpy, offsets static_assert'ed. Field names are Linux include/linux/psp-sev.h
// `struct sev_data_*` verbatim [L]; PLATFORM_STATUS is uapi `struct sev_user_data_status` [L].
// Included by firmware/firmware.h; include that instead.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little, "wire structs are little endian");

// ---- constants ----
/// INIT / INIT_EX flags bit 0: SEV-ES enabled, needs a TMR [L psp-sev.h SEV_INIT_FLAGS_SEV_ES].
inline constexpr uint32_t kSevInitFlagsSevEs = 0x01;
/// TMR size and alignment: 1 MiB, and 2 MiB once SNP is initialised [L drivers/crypto/ccp/
/// sev-dev.c: "The TMR is a 1MB area that must be 1MB aligned ... When SEV-SNP is enabled the TMR
/// needs to be 2MB aligned and 2MB sized"].
inline constexpr uint64_t kSevTmrSize = uint64_t{1} << 20;
inline constexpr uint64_t kSnpTmrSize = uint64_t{2} << 20;
/// INIT_EX NV storage: 32 KiB, 4 KiB aligned [L sev-dev.c "INIT_EX NV Storage"].
inline constexpr uint32_t kSevNvLength = 32 * 1024;

/// Legacy guest policy bits (32-bit) [L psp-sev.h SEV_POLICY_MASK_*].
namespace sev_policy {
inline constexpr uint32_t kNoDbg = 1u << 0;
inline constexpr uint32_t kNoKs = 1u << 1;
inline constexpr uint32_t kEs = 1u << 2;
inline constexpr uint32_t kNoSend = 1u << 3;
inline constexpr uint32_t kDomain = 1u << 4;
inline constexpr uint32_t kSev = 1u << 5;
inline constexpr uint32_t kApiMajorShift = 16;  // bits 23:16
inline constexpr uint32_t kApiMinorShift = 24;  // bits 31:24
/// Bits 15:6: not defined by psp-sev.h. UNCONFIRMED that the firmware refuses them.
inline constexpr uint32_t kReservedMask = 0x0000FFC0;
}  // namespace sev_policy

// ---- command buffers ----
#pragma pack(push, 1)

/// INIT (0x001) [L sev_data_init].
struct SevDataInit {
  uint32_t flags = 0;
  uint32_t reserved = 0;
  uint64_t tmr_address = 0;
  uint32_t tmr_len = 0;
};
static_assert(offsetof(SevDataInit, tmr_address) == 0x08);
static_assert(offsetof(SevDataInit, tmr_len) == 0x10);
static_assert(sizeof(SevDataInit) == 20);

/// INIT_EX (0x00D) [L sev_data_init_ex]. `length` must be sizeof (the PSP reads that many).
struct SevDataInitEx {
  uint32_t length = sizeof(SevDataInitEx);
  uint32_t flags = 0;
  uint64_t tmr_address = 0;
  uint32_t tmr_len = 0;
  uint32_t reserved = 0;
  uint64_t nv_address = 0;
  uint32_t nv_len = 0;
};
static_assert(offsetof(SevDataInitEx, tmr_address) == 0x08);
static_assert(offsetof(SevDataInitEx, nv_address) == 0x18);
static_assert(offsetof(SevDataInitEx, nv_len) == 0x20);
static_assert(sizeof(SevDataInitEx) == 36);

/// PLATFORM_STATUS (0x004): the command buffer itself is the output [L uapi
/// sev_user_data_status]. flags: bit 0 OWNER, bit 8 ES (UNCONFIRMED bit positions, SEV API
/// spec from memory; the model sets only ES).
struct SevDataPlatformStatus {
  uint8_t api_major = 0;
  uint8_t api_minor = 0;
  uint8_t state = 0;
  uint32_t flags = 0;
  uint8_t build = 0;
  uint32_t guest_count = 0;
};
static_assert(offsetof(SevDataPlatformStatus, flags) == 3);
static_assert(offsetof(SevDataPlatformStatus, build) == 7);
static_assert(offsetof(SevDataPlatformStatus, guest_count) == 8);
static_assert(sizeof(SevDataPlatformStatus) == 12);
inline constexpr uint32_t kSevStatusFlagEs = 1u << 8;  // UNCONFIRMED position

/// DECOMMISSION (0x020), DEACTIVATE (0x022), LAUNCH_FINISH (0x035): one handle
/// [L sev_data_decommission, sev_data_deactivate, sev_data_launch_finish].
struct SevDataHandle {
  uint32_t handle = 0;
};
static_assert(sizeof(SevDataHandle) == 4);

/// ACTIVATE (0x021) [L sev_data_activate].
struct SevDataActivate {
  uint32_t handle = 0;
  uint32_t asid = 0;
};
static_assert(offsetof(SevDataActivate, asid) == 4);
static_assert(sizeof(SevDataActivate) == 8);

/// GUEST_STATUS (0x023): handle in; policy, asid, state out [L sev_data_guest_status].
struct SevDataGuestStatus {
  uint32_t handle = 0;
  uint32_t policy = 0;
  uint32_t asid = 0;
  uint8_t state = 0;
};
static_assert(offsetof(SevDataGuestStatus, policy) == 4);
static_assert(offsetof(SevDataGuestStatus, asid) == 8);
static_assert(offsetof(SevDataGuestStatus, state) == 12);
static_assert(sizeof(SevDataGuestStatus) == 13);

/// LAUNCH_START (0x030): handle in/out (0 in: a new guest; the firmware writes the new handle
/// back) [L sev_data_launch_start].
struct SevDataLaunchStart {
  uint32_t handle = 0;
  uint32_t policy = 0;
  uint64_t dh_cert_address = 0;
  uint32_t dh_cert_len = 0;
  uint32_t reserved = 0;
  uint64_t session_address = 0;
  uint32_t session_len = 0;
};
static_assert(offsetof(SevDataLaunchStart, policy) == 4);
static_assert(offsetof(SevDataLaunchStart, dh_cert_address) == 8);
static_assert(offsetof(SevDataLaunchStart, dh_cert_len) == 0x10);
static_assert(offsetof(SevDataLaunchStart, session_address) == 0x18);
static_assert(offsetof(SevDataLaunchStart, session_len) == 0x20);
static_assert(sizeof(SevDataLaunchStart) == 36);

/// LAUNCH_UPDATE_DATA (0x031) and LAUNCH_UPDATE_VMSA (0x032) [L sev_data_launch_update_data,
/// sev_data_launch_update_vmsa: the same layout].
struct SevDataLaunchUpdate {
  uint32_t handle = 0;
  uint32_t reserved = 0;
  uint64_t address = 0;
  uint32_t len = 0;
};
static_assert(offsetof(SevDataLaunchUpdate, address) == 8);
static_assert(offsetof(SevDataLaunchUpdate, len) == 0x10);
static_assert(sizeof(SevDataLaunchUpdate) == 20);

/// LAUNCH_MEASURE (0x033): len in/out [L sev_data_launch_measure].
struct SevDataLaunchMeasure {
  uint32_t handle = 0;
  uint32_t reserved = 0;
  uint64_t address = 0;
  uint32_t len = 0;
};
static_assert(offsetof(SevDataLaunchMeasure, address) == 8);
static_assert(offsetof(SevDataLaunchMeasure, len) == 0x10);
static_assert(sizeof(SevDataLaunchMeasure) == 20);

/// What LAUNCH_MEASURE writes at `address`: MEASUREMENT (HMAC-SHA-256) then MNONCE (SEV API
/// spec LAUNCH_MEASURE; 48 bytes, the length KVM's sev_launch_measure queries).
struct SevMeasurementBlob {
  std::array<uint8_t, 32> measurement{};
  std::array<uint8_t, 16> mnonce{};
};
static_assert(offsetof(SevMeasurementBlob, mnonce) == 32);
static_assert(sizeof(SevMeasurementBlob) == 48);

#pragma pack(pop)

}  // namespace snpemu::fw
