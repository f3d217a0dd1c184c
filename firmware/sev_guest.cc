// firmware/sev_guest.cc: legacy SEV guest commands: ACTIVATE, DEACTIVATE, DECOMMISSION,
// GUEST_STATUS. PLATFORM-FACTS 8.1, 8.9; layouts in sev_command_layout.h; rules in firmware.h
// (mailbox section, "legacy SEV").
#include <algorithm>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"

namespace snpemu::fw {

Status Firmware::sev_activate(Hpa buf) {
  SevDataActivate cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "ACTIVATE buffer")) {
    return Status::kInvalidAddress;
  }
  // KVM binds the ASID right after LAUNCH_START [L KVM sev.c sev_bind_asid]; any launched state
  // is accepted (UNCONFIRMED).
  auto g =
      live_sev_guest(cmd.handle, "ACTIVATE",
                     {SevGuestState::kLupdate, SevGuestState::kLsecret, SevGuestState::kRunning});
  if (!g) return g.error();
  if ((*g)->asid.value != 0) {  // UNCONFIRMED status
    return fail(Status::kActive, "ACTIVATE: guest " + std::to_string(cmd.handle) +
                                     " is already active with ASID " +
                                     std::to_string((*g)->asid.value));
  }
  const uint32_t asid = cmd.asid;
  if (asid == 0 || asid > config_.max_asid || asid > rmp::raw::kAsidMax) {
    return fail(Status::kInvalidAsid, "ACTIVATE: ASID " + std::to_string(asid) + " outside 1.." +
                                          std::to_string(config_.max_asid));
  }
  // PLATFORM-FACTS 8.9 ASID_OWNED: the ASID is bound to another guest (legacy or SNP).
  if (asid_in_use(asid)) {
    return fail(Status::kAsidOwned,
                "ACTIVATE: ASID " + std::to_string(asid) + " is bound to another guest");
  }
  // PLATFORM-FACTS 8.9 DFFLUSH_REQUIRED: a deactivated ASID is reusable only after a DF_FLUSH
  // [L KVM sev.c: freed ASIDs are recycled only after WBINVD and DF_FLUSH].
  if (std::binary_search(asids_need_flush_.begin(), asids_need_flush_.end(), asid)) {
    return fail(Status::kDfflushRequired,
                "ACTIVATE: ASID " + std::to_string(asid) + " needs DF_FLUSH first");
  }
  if (keys_ != nullptr) {  // as SNP_ACTIVATE (gctx.cc); UNCONFIRMED statuses
    if (asid > keys_->max_asid()) {
      return fail(Status::kInvalidAsid, "ACTIVATE: ASID " + std::to_string(asid) +
                                            " has no key slot (memory controller slots 0.." +
                                            std::to_string(keys_->max_asid()) + ")");
    }
    if (keys_->key(Asid{asid}).has_value()) {
      return fail(Status::kAsidOwned, "ACTIVATE: the key slot of ASID " + std::to_string(asid) +
                                          " is already programmed");
    }
  }
  // Act: bind and program the memory controller with the guest's VEK.
  (*g)->asid = Asid{asid};
  if (keys_ != nullptr) {
    keys_->install(Asid{asid}, sev_secrets_[static_cast<size_t>(*g - sev_guests_.data())].keys.vek);
  }
  return Status::kSuccess;
}

Status Firmware::sev_deactivate(Hpa buf) {
  SevDataHandle cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "DEACTIVATE buffer")) {
    return Status::kInvalidAddress;
  }
  auto g =
      live_sev_guest(cmd.handle, "DEACTIVATE",
                     {SevGuestState::kLupdate, SevGuestState::kLsecret, SevGuestState::kRunning});
  if (!g) return g.error();
  const uint32_t asid = (*g)->asid.value;
  if (asid == 0) {  // PLATFORM-FACTS 8.9 INACTIVE; UNCONFIRMED that DEACTIVATE returns it
    return fail(Status::kInactive,
                "DEACTIVATE: guest " + std::to_string(cmd.handle) + " is not active");
  }
  asids_need_flush_.insert(
      std::upper_bound(asids_need_flush_.begin(), asids_need_flush_.end(), asid), asid);
  if (keys_ != nullptr) keys_->remove(Asid{asid});
  (*g)->asid = Asid{0};
  return Status::kSuccess;
}

Status Firmware::sev_decommission(Hpa buf) {
  SevDataHandle cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "DECOMMISSION buffer")) {
    return Status::kInvalidAddress;
  }
  auto g =
      live_sev_guest(cmd.handle, "DECOMMISSION",
                     {SevGuestState::kLupdate, SevGuestState::kLsecret, SevGuestState::kRunning});
  if (!g) return g.error();
  // KVM deactivates before it decommissions [L KVM sev.c sev_unbind_asid -> sev_decommission];
  // PLATFORM-FACTS 8.9 ACTIVE. UNCONFIRMED that the firmware refuses an active guest.
  if ((*g)->asid.value != 0) {
    return fail(Status::kActive, "DECOMMISSION: guest " + std::to_string(cmd.handle) +
                                     " is still active with ASID " +
                                     std::to_string((*g)->asid.value) + " (DEACTIVATE first)");
  }
  const size_t index = static_cast<size_t>(*g - sev_guests_.data());
  sev_guests_.erase(sev_guests_.begin() + index);
  sev_secrets_.erase(sev_secrets_.begin() + index);
  // The platform leaves WORKING with its last guest (SEV API platform states, UNCONFIRMED).
  if (sev_guests_.empty()) sev_state_ = SevPlatformState::kInit;
  return Status::kSuccess;
}

Status Firmware::sev_guest_status(Hpa buf) {
  SevDataGuestStatus cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "GUEST_STATUS buffer")) {
    return Status::kInvalidAddress;
  }
  auto g =
      live_sev_guest(cmd.handle, "GUEST_STATUS",
                     {SevGuestState::kLupdate, SevGuestState::kLsecret, SevGuestState::kRunning});
  if (!g) return g.error();
  // The command buffer is the output [L sev-dev.c sev_cmd_buf_writable: GUEST_STATUS].
  if (Status s = require_legacy_fw_pages(buf, sizeof cmd, "GUEST_STATUS buffer");
      s != Status::kSuccess) {
    return s;
  }
  cmd.policy = (*g)->policy;
  cmd.asid = (*g)->asid.value;
  cmd.state = static_cast<uint8_t>((*g)->state);
  (void)mem_->write(buf, detail::bytes_of(cmd));
  return Status::kSuccess;
}

}  // namespace snpemu::fw
