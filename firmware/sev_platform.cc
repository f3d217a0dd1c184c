// firmware/sev_platform.cc: legacy SEV platform commands: INIT, INIT_EX, SHUTDOWN,
// PLATFORM_STATUS, DF_FLUSH, and the helpers of the legacy commands (guest lookup, the RMP rule
// for legacy buffers once SNP is initialised). PLATFORM-FACTS 8.1; layouts in
// sev_command_layout.h; rules in firmware.h (mailbox section, "legacy SEV").
#include <algorithm>
#include <cstring>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"

namespace snpemu::fw {

Status Firmware::require_sev_init() {
  if (sev_state_ != SevPlatformState::kUninit) return Status::kSuccess;
  return fail(Status::kInvalidPlatformState, "the legacy SEV platform is not initialised (INIT)");
}

const SevGuestInfo* Firmware::sev_guest(uint32_t handle) const {
  for (const SevGuestInfo& g : sev_guests_) {
    if (g.handle == handle) return &g;
  }
  return nullptr;
}

std::expected<SevGuestInfo*, Status> Firmware::live_sev_guest(
    uint32_t handle, std::string_view name, std::initializer_list<SevGuestState> states) {
  if (Status s = require_sev_init(); s != Status::kSuccess) return std::unexpected(s);
  SevGuestInfo* g = nullptr;
  for (SevGuestInfo& c : sev_guests_) {
    if (c.handle == handle) g = &c;
  }
  if (g == nullptr) {
    return std::unexpected(
        fail(Status::kInvalidGuest,
             std::string(name) + ": handle " + std::to_string(handle) + " names no guest"));
  }
  if (std::find(states.begin(), states.end(), g->state) == states.end()) {
    return std::unexpected(fail(Status::kInvalidGuestState,
                                std::string(name) + ": guest " + std::to_string(handle) +
                                    " is in state " + std::to_string(static_cast<int>(g->state))));
  }
  return g;
}

bool Firmware::asid_in_use(uint32_t asid) const {
  for (const GuestContextInfo& g : guests_) {
    if (g.asid.value == asid) return true;
  }
  for (const SevGuestInfo& g : sev_guests_) {
    if (g.asid.value == asid) return true;
  }
  return false;
}

Status Firmware::require_legacy_fw_pages(Hpa pa, uint64_t len, std::string_view what) {
  if (state_ != PlatformState::kInit || len == 0) return Status::kSuccess;  // RMP not in force
  const uint64_t first = pa.value >> kPageShift;
  if (pa.value > ~uint64_t{0} - len || !mem_->contains(pa, len) ||
      !rmp_->covers(Pfn{first}, ((pa.value + len - 1) >> kPageShift) - first + 1)) {
    return fail(Status::kInvalidAddress, std::string(what) + " [" + hex(pa.value) + ", +" +
                                             hex(len) + ") is outside RAM or the RMP");
  }
  for (uint64_t p = first; p <= (pa.value + len - 1) >> kPageShift; ++p) {
    const rmp::RmpEntry e = rmp_->entry(Pfn{p});
    work_.rmp_reads++;
    // [L sev-dev.c snp_map_cmd_buf_desc / snp_prep_cmd_buf: rmp_mark_pages_firmware before a
    // legacy command once SNP is initialised]. UNCONFIRMED status.
    if (!detail::is_firmware(e) || rmp_->is_rmp_page(Pfn{p})) {
      return fail(Status::kInvalidPageState, std::string(what) + ": page " + hex(p << kPageShift) +
                                                 " is " + e.to_string() +
                                                 ", expected a firmware page (SNP is initialised)");
    }
  }
  return Status::kSuccess;
}

Status Firmware::sev_init(Hpa buf) {
  SevDataInit cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "INIT buffer")) {
    return Status::kInvalidAddress;
  }
  return sev_init_common(cmd.flags, cmd.tmr_address, cmd.tmr_len, "INIT");
}

Status Firmware::sev_init_ex(Hpa buf) {
  SevDataInitEx cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "INIT_EX buffer")) {
    return Status::kInvalidAddress;
  }
  // [L sev_data_init_ex: "length: len of the command buffer read by the PSP"]; Linux sets it to
  // sizeof. UNCONFIRMED: other lengths refused.
  if (cmd.length != sizeof(SevDataInitEx)) {
    return fail(Status::kInvalidLength, "INIT_EX: length " + std::to_string(cmd.length) +
                                            ", expected " + std::to_string(sizeof cmd));
  }
  // NV storage: 32 KiB, 4 KiB aligned [L sev-dev.c]; Linux makes it firmware pages once SNP is
  // initialised [L sev-dev.c __sev_platform_init_handle_init_ex_path]. UNCONFIRMED: no NV buffer
  // (address 0, length 0) is accepted; the model keeps no persistent data and writes nothing.
  if (cmd.nv_address != 0 || cmd.nv_len != 0) {
    if (cmd.nv_len != kSevNvLength) {
      return fail(Status::kInvalidLength, "INIT_EX: nv_len " + std::to_string(cmd.nv_len) +
                                              ", expected " + std::to_string(kSevNvLength));
    }
    if ((cmd.nv_address & kPageOffsetMask) != 0 ||
        !mem_->contains(Hpa{cmd.nv_address}, kSevNvLength)) {
      return fail(Status::kInvalidAddress,
                  "INIT_EX: nv_address " + hex(cmd.nv_address) + " is misaligned or outside RAM");
    }
    if (Status s = require_legacy_fw_pages(Hpa{cmd.nv_address}, cmd.nv_len, "INIT_EX NV buffer");
        s != Status::kSuccess) {
      return s;
    }
  }
  return sev_init_common(cmd.flags, cmd.tmr_address, cmd.tmr_len, "INIT_EX");
}

Status Firmware::sev_init_common(uint32_t flags, uint64_t tmr_address, uint32_t tmr_len,
                                 std::string_view name) {
  const std::string n(name);
  if (sev_state_ != SevPlatformState::kUninit) {
    return fail(Status::kInvalidPlatformState, n + ": the legacy platform is already initialised");
  }
  if ((flags & ~kSevInitFlagsSevEs) != 0) {  // UNCONFIRMED: undefined flags refused
    return fail(Status::kInvalidParam, n + ": flags " + hex(flags) + " has undefined bits");
  }
  const bool es = (flags & kSevInitFlagsSevEs) != 0;
  if (es) {
    // The TMR: 1 MiB aligned and sized, 2 MiB once SNP is initialised [L sev-dev.c].
    // UNCONFIRMED: statuses; the TMR's RMP state is not checked.
    const uint64_t size = state_ == PlatformState::kInit ? kSnpTmrSize : kSevTmrSize;
    if (tmr_len != size) {
      return fail(Status::kInvalidLength,
                  n + ": tmr_len " + hex(tmr_len) + ", expected " + hex(size));
    }
    if (tmr_address % size != 0 || !mem_->contains(Hpa{tmr_address}, size)) {
      return fail(Status::kInvalidAddress, n + ": tmr_address " + hex(tmr_address) + " is not " +
                                               hex(size) + "-aligned inside RAM");
    }
  }
  sev_state_ = SevPlatformState::kInit;
  sev_es_enabled_ = es;
  sev_tmr_address_ = es ? tmr_address : 0;
  sev_tmr_len_ = es ? tmr_len : 0;
  return Status::kSuccess;
}

Status Firmware::sev_shutdown(Hpa) {
  // UNCONFIRMED: refused while legacy guests exist (as SNP_SHUTDOWN in this model; Linux refuses
  // a reset in WORKING, sev-dev.c sev_ioctl_do_reset); from UNINIT it succeeds.
  if (!sev_guests_.empty()) {
    return fail(Status::kInvalidPlatformState,
                "SHUTDOWN: " + std::to_string(sev_guests_.size()) + " legacy guests exist");
  }
  sev_state_ = SevPlatformState::kUninit;
  sev_es_enabled_ = false;
  sev_tmr_address_ = 0;
  sev_tmr_len_ = 0;
  return Status::kSuccess;
}

Status Firmware::sev_platform_status(Hpa buf) {
  SevDataPlatformStatus s;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&s), sizeof s}, "PLATFORM_STATUS buffer")) {
    return Status::kInvalidAddress;
  }
  // The command buffer is the output [L sev_cmd_buf_writable: PLATFORM_STATUS].
  if (Status st = require_legacy_fw_pages(buf, sizeof s, "PLATFORM_STATUS buffer");
      st != Status::kSuccess) {
    return st;
  }
  s = {};
  s.api_major = config_.api_major;
  s.api_minor = config_.api_minor;
  s.state = static_cast<uint8_t>(sev_state_);
  s.flags = sev_es_enabled_ ? kSevStatusFlagEs : 0;
  s.build = static_cast<uint8_t>(config_.build_id);
  s.guest_count = static_cast<uint32_t>(sev_guests_.size());  // UNCONFIRMED: legacy guests only
  (void)mem_->write(buf, detail::bytes_of(s));
  return Status::kSuccess;
}

Status Firmware::sev_df_flush(Hpa) {
  if (Status s = require_sev_init(); s != Status::kSuccess) return s;
  // As SNP_DF_FLUSH (platform.cc): Linux runs WBINVD on every CPU first [L sev-dev.c
  // __sev_platform_init_locked]. UNCONFIRMED: enforced by the firmware (df_flush_needs_wbinvd).
  if (config_.df_flush_needs_wbinvd && !wbinvd_done_) {
    return fail(Status::kWbinvdRequired, "DF_FLUSH: WBINVD was not executed on every core");
  }
  asids_need_flush_.clear();
  wbinvd_done_ = false;
  return Status::kSuccess;
}

}  // namespace snpemu::fw
