// firmware/command_layout.h: the mailbox's command ids, the decoded command buffers
// (PLATFORM-FACTS 8.1, 8.2) and the pages status commands write. Pure tables; the codecs are in
// commands.cc, declared in firmware.h. Included by firmware/firmware.h; include that instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/types.h"
#include "firmware/page_layout.h"

namespace snpemu::fw {

/// Firmware command ids (the mailbox's command field). PLATFORM-FACTS 8.1 [L psp-sev.h].
enum class CommandId : uint32_t {
  // Legacy SEV / SEV-ES (buffers: sev_command_layout.h).
  kInit = 0x001,
  kShutdown = 0x002,
  kFactoryReset = 0x003,
  kPlatformStatus = 0x004,
  kPekGen = 0x005,
  kPekCsr = 0x006,
  kPekCertImport = 0x007,
  kPdhCertExport = 0x008,
  kPdhGen = 0x009,
  kDfFlush = 0x00A,
  kDownloadFirmware = 0x00B,
  kGetId = 0x00C,
  kInitEx = 0x00D,
  kDecommission = 0x020,
  kActivate = 0x021,
  kDeactivate = 0x022,
  kGuestStatus = 0x023,
  kLaunchStart = 0x030,
  kLaunchUpdateData = 0x031,
  kLaunchUpdateVmsa = 0x032,
  kLaunchMeasure = 0x033,
  kLaunchUpdateSecret = 0x034,
  kLaunchFinish = 0x035,
  kAttestationReport = 0x036,
  kSendStart = 0x040,
  kSendUpdateData = 0x041,
  kSendUpdateVmsa = 0x042,
  kSendFinish = 0x043,
  kSendCancel = 0x044,
  kReceiveStart = 0x050,
  kReceiveUpdateData = 0x051,
  kReceiveUpdateVmsa = 0x052,
  kReceiveFinish = 0x053,
  kDbgDecrypt = 0x060,
  kDbgEncrypt = 0x061,
  // SEV-SNP.
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

// Command buffers, decoded. Each has kSize (bytes the firmware reads, PLATFORM-FACTS 8.2) and a
// parse (kBadLength/INVALID_LENGTH if shorter; the checks listed) and serialize pair, declared in
// firmware.h (commands.cc).

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

}  // namespace snpemu::fw
