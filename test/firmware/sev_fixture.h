// test/firmware/sev_fixture.h: the host side of the legacy SEV / SEV-ES launch, on the mailbox
// fixture's Host (mailbox_fixture.h): one call per legacy command, issued the way Linux's AMD-SP
// driver issues it, and launch_sev_es, the whole documented sequence.
//
// How a legacy command is issued (sev_command) [L drivers/crypto/ccp/sev-dev.c
// __sev_do_cmd_locked, snp_prep_cmd_buf, snp_map_cmd_buf_desc, snp_reclaim_cmd_buf]:
//   1. the command buffer is copied into a driver-owned host page (kSevCmdBuf, the rest zero);
//   2. only once SNP is initialised (SNP_INIT done): every page the firmware will write goes to
//      the Firmware state by RMPUPDATE (assigned, ASID 0, immutable): the command buffer itself
//      for PLATFORM_STATUS, GUEST_STATUS, LAUNCH_START and LAUNCH_MEASURE (sev_cmd_buf_writable),
//      the LAUNCH_UPDATE_DATA / _VMSA range (encrypted in place) and the LAUNCH_MEASURE output;
//   3. the command id is issued with kSevCmdBuf;
//   4. the command buffer is copied back (also on failure: LAUNCH_MEASURE reports the length it
//      needs that way), and the pages of step 2 are reclaimed (SNP_PAGE_RECLAIM, then RMPUPDATE
//      to shared), so guest memory of a legacy guest ends hypervisor-owned in the RMP.
// Without SNP_INIT the RMP is not involved. No gtest dependency (setup failures abort).
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <utility>
#include <vector>

#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"

namespace snpemu::fw::test {

/// The driver's page for legacy command buffers (SNP-era commands keep kCmdBuf, so that the
/// SNP_PAGE_RECLAIM of step 4 has a buffer of its own).
inline constexpr Hpa kSevCmdBuf{0xF000};
/// The SEV-ES TMR: 2 MiB aligned, so it suits both TMR sizes (sev_command_layout.h).
inline constexpr Hpa kTmr{0x3000000};
/// An SEV-ES guest policy: NODBG | NOKS | ES, API 0.0 [L psp-sev.h SEV_POLICY_MASK_*].
inline constexpr uint32_t kSevEsPolicy = sev_policy::kNoDbg | sev_policy::kNoKs | sev_policy::kEs;
/// An SEV (not ES) guest policy: NODBG | NOKS.
inline constexpr uint32_t kSevPolicy = sev_policy::kNoDbg | sev_policy::kNoKs;

/// A host range the firmware writes during a command (step 2 above).
struct FwRange {
  Hpa address;
  uint64_t len = 0;
};

/// Steps 1-4 above for command `id` with buffer `in`; `out`, if not empty, receives the first
/// out.size() bytes of the command buffer after the command. Once SNP is initialised the
/// reclaims of step 4 are firmware commands too, so Firmware::last_error() then describes the
/// last reclaim, not this command (tests that need the message issue the command directly).
Status sev_command(Host& h, CommandId id, std::span<const uint8_t> in, std::span<uint8_t> out = {},
                   std::vector<FwRange> written = {});

/// Typed shorthands (one legacy command each).
Status sev_init(Host& h, bool es = true, Hpa tmr = kTmr);
Status sev_shutdown(Host& h);
Status sev_df_flush(Host& h);  // WBINVD on every core (note_wbinvd_all_cpus), then DF_FLUSH
std::expected<SevDataPlatformStatus, Status> sev_platform_status(Host& h);
/// LAUNCH_START of a new guest (handle 0 in, no session); the firmware's new handle.
std::expected<uint32_t, Status> sev_launch_start(Host& h, uint32_t policy);
Status sev_activate(Host& h, uint32_t handle, Asid asid);
Status sev_deactivate(Host& h, uint32_t handle);
Status sev_decommission(Host& h, uint32_t handle);
std::expected<SevDataGuestStatus, Status> sev_guest_status(Host& h, uint32_t handle);
Status sev_launch_update_data(Host& h, uint32_t handle, Hpa address, uint32_t len);
Status sev_launch_update_vmsa(Host& h, uint32_t handle, Hpa vmsa_page);
/// LAUNCH_MEASURE into host memory at `out` with buffer length `len`; the blob read back.
std::expected<SevMeasurementBlob, Status> sev_launch_measure(
    Host& h, uint32_t handle, Hpa out, uint32_t len = sizeof(SevMeasurementBlob));
Status sev_launch_finish(Host& h, uint32_t handle);

/// What the hypervisor launches: plaintext ranges at host-physical addresses (each 16-byte
/// aligned, a multiple of 16 long), and for SEV-ES one VMSA page per vCPU.
struct SevImage {
  std::vector<std::pair<Hpa, std::vector<uint8_t>>> data;
  std::vector<std::pair<Hpa, std::vector<uint8_t>>> vmsas;  // 4096 bytes each, page aligned
};
struct SevLaunch {
  Status status = Status::kSuccess;            // of the first failing command, else SUCCESS
  CommandId failed = CommandId::kLaunchStart;  // meaningful when status != SUCCESS
  uint32_t handle = 0;
  SevMeasurementBlob blob;  // MEASUREMENT and MNONCE (for the guest owner)
};
/// The whole launch, KVM's order [L KVM sev.c: sev_launch_start (LAUNCH_START then
/// sev_bind_asid = ACTIVATE), sev_launch_update_data, sev_launch_update_vmsa (every vCPU),
/// sev_launch_measure, sev_launch_finish]: writes each plaintext range and VMSA into host RAM,
/// then LAUNCH_START(policy) -> ACTIVATE(asid) -> LAUNCH_UPDATE_DATA (each range) ->
/// LAUNCH_UPDATE_VMSA (each VMSA) -> LAUNCH_MEASURE (blob at `measure_out`) -> LAUNCH_FINISH.
/// Needs INIT first (sev_init; with SEV-ES for an ES policy). Stops at the first failure.
SevLaunch launch_sev(Host& h, uint32_t policy, Asid asid, const SevImage& image,
                     Hpa measure_out = Hpa{0xE000});

}  // namespace snpemu::fw::test
