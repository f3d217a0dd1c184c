// firmware/gctx.cc: guest contexts: SNP_GCTX_CREATE, SNP_ACTIVATE, SNP_DECOMMISSION,
// SNP_GUEST_STATUS. PLATFORM-FACTS 8.2, 8.10; page states in firmware.h (mailbox section).
#include <algorithm>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"

namespace snpemu::fw {

Status Firmware::snp_gctx_create(Hpa buf) {
  if (Status s = require_init(); s != Status::kSuccess) return s;
  std::array<uint8_t, CmdAddr::kSize> raw{};
  if (!read_host(buf, raw, "SNP_GCTX_CREATE buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_addr(raw);
  if (!cmd) return fail(cmd.error(), "SNP_GCTX_CREATE");
  const Hpa gctx = cmd->address;
  if ((gctx.value & kPageOffsetMask) != 0 || !mem_->contains(gctx, kPageSize) ||
      !rmp_->covers(pfn_of(gctx), 1)) {
    return fail(Status::kInvalidAddress,
                "SNP_GCTX_CREATE: context page " + hex(gctx.value) + " is not usable");
  }
  // [L KVM snp_context_create: the page comes from snp_alloc_firmware_page, i.e. it is in the
  // Firmware state]; the firmware turns it into a Context page (encoding UNCONFIRMED, firmware.h).
  const rmp::RmpEntry e = rmp_->entry(pfn_of(gctx));
  work_.rmp_reads++;
  if (!detail::is_firmware(e)) {
    return fail(Status::kInvalidPageState,
                "SNP_GCTX_CREATE: context page is " + e.to_string() + ", not a firmware page");
  }
  GuestContextInfo g;
  g.gctx = gctx;
  g.guest_id = next_guest_id_;
  auto vmpcks = derive_vmpcks(config_.platform_seed, g.guest_id);
  if (!vmpcks) return fail(vmpcks.error(), "SNP_GCTX_CREATE");
  g.vmpcks = *vmpcks;
  g.channel = GuestChannel(*vmpcks);
  // The VEK (firmware.h, vek.cc). UNCONFIRMED: whether the SNP firmware draws it at GCTX_CREATE or
  // at LAUNCH_START; the model's key does not depend on LAUNCH_START's inputs, so only the
  // moment differs, and GCTX_CREATE keeps it with the other per-context keys (VMPCKs).
  auto new_vek = derive_vek(config_.platform_seed, g.guest_id, pfn_of(gctx));
  if (!new_vek) return fail(new_vek.error(), "SNP_GCTX_CREATE");
  // REPORT_ID: unique per guest; deterministic in the model (SHA-384 of the seed and guest id).
  std::vector<uint8_t> id_in(config_.platform_seed);
  for (int i = 0; i < 8; ++i) id_in.push_back(static_cast<uint8_t>(g.guest_id >> (8 * i)));
  const Digest384 id = sha384(id_in);
  std::copy_n(id.begin(), 32, g.report_id.begin());
  // Act.
  std::vector<uint8_t> zero(kPageSize, 0);
  (void)mem_->write(gctx, zero);  // the context page's contents are the firmware's own
  rmp_->store(pfn_of(gctx), detail::context_entry());
  work_.rmp_writes++;
  guests_.push_back(std::move(g));
  veks_.push_back(*new_vek);
  next_guest_id_++;
  return Status::kSuccess;
}

Status Firmware::snp_activate(Hpa buf) {
  std::array<uint8_t, CmdActivate::kSize> raw{};
  if (!read_host(buf, raw, "SNP_ACTIVATE buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_activate(raw);
  if (!cmd) return fail(cmd.error(), "SNP_ACTIVATE");
  // UNCONFIRMED: ACTIVATE is accepted after LAUNCH_START (KVM's order, PLATFORM-FACTS 8.10) and
  // for a running guest; a context that already has an ASID is refused.
  auto g = live_guest(cmd->gctx_paddr, {GuestState::kLaunch, GuestState::kRunning});
  if (!g) return g.error();
  if ((*g)->asid.value != 0) {
    return fail(Status::kInvalidGuestState,
                "SNP_ACTIVATE: guest already has ASID " + std::to_string((*g)->asid.value));
  }
  const uint32_t asid = cmd->asid.value;
  const uint32_t max = max_snp_asid_ != 0 ? max_snp_asid_ : config_.max_asid;
  if (asid == 0 || asid > max || asid > rmp::raw::kAsidMax) {
    return fail(Status::kInvalidAsid, "SNP_ACTIVATE: ASID " + std::to_string(asid) +
                                          " outside 1.." + std::to_string(max));
  }
  for (const GuestContextInfo& other : guests_) {
    if (other.asid.value == asid) {
      return fail(Status::kAsidOwned, "SNP_ACTIVATE: ASID " + std::to_string(asid) +
                                          " is bound to guest " + hex(other.gctx.value));
    }
  }
  for (const SevGuestInfo& other : sev_guests_) {  // a legacy SEV guest (sev_guest.cc)
    if (other.asid.value == asid) {
      return fail(Status::kAsidOwned, "SNP_ACTIVATE: ASID " + std::to_string(asid) +
                                          " is bound to legacy guest " +
                                          std::to_string(other.handle));
    }
  }
  // PLATFORM-FACTS 8.9 DFFLUSH_REQUIRED: a decommissioned ASID is reusable only after DF_FLUSH.
  if (std::binary_search(asids_need_flush_.begin(), asids_need_flush_.end(), asid)) {
    return fail(Status::kDfflushRequired,
                "SNP_ACTIVATE: ASID " + std::to_string(asid) + " needs SNP_DF_FLUSH first");
  }
  if (keys_ != nullptr) {
    // The memory controller must have a slot for the ASID, and the slot must be free: only the
    // AMD-SP programs key slots, so a key the firmware did not install there belongs to a guest
    // it does not track (legacy guests are checked above). UNCONFIRMED: both statuses
    // (INVALID_ASID, ASID_OWNED), chosen to match the checks above.
    if (asid > keys_->max_asid()) {
      return fail(Status::kInvalidAsid, "SNP_ACTIVATE: ASID " + std::to_string(asid) +
                                            " has no key slot (memory controller slots 0.." +
                                            std::to_string(keys_->max_asid()) + ")");
    }
    if (keys_->key(Asid{asid}).has_value()) {
      return fail(Status::kAsidOwned, "SNP_ACTIVATE: the key slot of ASID " +
                                          std::to_string(asid) + " is already programmed");
    }
  }
  // Act: bind the context and program the memory controller with its VEK.
  (*g)->asid = Asid{asid};
  if (keys_ != nullptr) keys_->install(Asid{asid}, vek(**g));
  return Status::kSuccess;
}

Status Firmware::snp_decommission(Hpa buf) {
  std::array<uint8_t, CmdAddr::kSize> raw{};
  if (!read_host(buf, raw, "SNP_DECOMMISSION buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_addr(raw);
  if (!cmd) return fail(cmd.error(), "SNP_DECOMMISSION");
  auto g = live_guest(cmd->address, {GuestState::kInit, GuestState::kLaunch, GuestState::kRunning});
  if (!g) return g.error();
  const uint32_t asid = (*g)->asid.value;
  // UNCONFIRMED: a guest with a VMSA still in use on a core is not checked here (the hypervisor
  // exits every vCPU first); its pages stay assigned to the ASID: the hypervisor reclaims them.
  // The context page goes back to the Firmware state, to be reclaimed with SNP_PAGE_RECLAIM.
  rmp_->store(pfn_of((*g)->gctx), detail::firmware_entry());
  work_.rmp_writes++;
  if (asid != 0) {
    asids_need_flush_.insert(
        std::upper_bound(asids_need_flush_.begin(), asids_need_flush_.end(), asid), asid);
    // The VEK leaves the memory controller with its context. UNCONFIRMED: whether the slot is
    // cleared here or only at the DF_FLUSH that makes the ASID reusable; a decommissioned guest
    // cannot run either way.
    if (keys_ != nullptr) keys_->remove(Asid{asid});
  }
  const size_t index = static_cast<size_t>(*g - guests_.data());
  guests_.erase(guests_.begin() + index);
  veks_.erase(veks_.begin() + index);
  return Status::kSuccess;
}

Status Firmware::snp_guest_status(Hpa buf) {
  std::array<uint8_t, CmdGctxAddrs::kSizeTwo> raw{};
  if (!read_host(buf, raw, "SNP_GUEST_STATUS buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_gctx_addrs(raw, 2);
  if (!cmd) return fail(cmd.error(), "SNP_GUEST_STATUS");
  auto g = live_guest(cmd->gctx_paddr,
                      {GuestState::kInit, GuestState::kLaunch, GuestState::kRunning});
  if (!g) return g.error();
  const Hpa out = cmd->first;
  if ((out.value & kPageOffsetMask) != 0 || !mem_->contains(out, kPageSize) ||
      !rmp_->covers(pfn_of(out), 1)) {
    return fail(Status::kInvalidAddress,
                "SNP_GUEST_STATUS: status page " + hex(out.value) + " is not usable");
  }
  // UNCONFIRMED: the output page must be a firmware page, as for SNP_PLATFORM_STATUS [L].
  const rmp::RmpEntry e = rmp_->entry(pfn_of(out));
  work_.rmp_reads++;
  if (!detail::is_firmware(e)) {
    return fail(Status::kInvalidPageState,
                "SNP_GUEST_STATUS: status page is " + e.to_string() + ", not a firmware page");
  }
  GuestStatusPage s;
  s.policy = (*g)->policy;
  s.asid = (*g)->asid.value;
  s.state = static_cast<uint8_t>((*g)->state);
  s.vcek_dis = (*g)->vcek_disabled ? 1 : 0;
  std::array<uint8_t, kPageSize> page{};
  std::memcpy(page.data(), &s, sizeof s);
  (void)mem_->write(out, page);
  work_.pages_written++;
  return Status::kSuccess;
}

}  // namespace snpemu::fw
