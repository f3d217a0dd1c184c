// firmware/mailbox.cc: the AMD-SP mailbox: construction, command dispatch, state fingerprint and
// the invariants between the firmware's state and the RMP. Handlers live in platform.cc,
// gctx.cc, launch.cc, pages.cc and guest_request.cc (SNP), and sev_platform.cc, sev_guest.cc and
// sev_launch.cc (legacy SEV / SEV-ES).
#include <algorithm>
#include <utility>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

std::expected<Firmware, FwError> Firmware::create(Memory& mem, rmp::Rmp& rmp,
                                                  FirmwareConfig config,
                                                  memcrypt::KeyTable* keys) {
  auto vcek = ModelVcek::derive(config.platform_seed);
  if (!vcek) return std::unexpected(vcek.error());
  config.policy.api_major = config.api_major;
  config.policy.api_minor = config.api_minor;
  return Firmware(mem, rmp, std::move(config), std::move(*vcek), keys);
}

Firmware::Handler Firmware::handler_for(CommandId id) {
  // One row per implemented command. PLATFORM-FACTS 8.1.
  struct Row {
    CommandId id;
    Handler handler;
  };
  static constexpr Row kTable[] = {
      {CommandId::kSnpInit, &Firmware::snp_init},
      {CommandId::kSnpShutdown, &Firmware::snp_shutdown},
      {CommandId::kSnpPlatformStatus, &Firmware::snp_platform_status},
      {CommandId::kSnpDfFlush, &Firmware::snp_df_flush},
      {CommandId::kSnpInitEx, &Firmware::snp_init_ex},
      {CommandId::kSnpShutdownEx, &Firmware::snp_shutdown_ex},
      {CommandId::kSnpDecommission, &Firmware::snp_decommission},
      {CommandId::kSnpActivate, &Firmware::snp_activate},
      {CommandId::kSnpGuestStatus, &Firmware::snp_guest_status},
      {CommandId::kSnpGctxCreate, &Firmware::snp_gctx_create},
      {CommandId::kSnpGuestRequest, &Firmware::snp_guest_request},
      {CommandId::kSnpLaunchStart, &Firmware::snp_launch_start},
      {CommandId::kSnpLaunchUpdate, &Firmware::snp_launch_update},
      {CommandId::kSnpLaunchFinish, &Firmware::snp_launch_finish},
      {CommandId::kSnpPageReclaim, &Firmware::snp_page_reclaim},
      {CommandId::kSnpPageUnsmash, &Firmware::snp_page_unsmash},
      // Legacy SEV / SEV-ES (sev_platform.cc, sev_guest.cc, sev_launch.cc).
      {CommandId::kInit, &Firmware::sev_init},
      {CommandId::kShutdown, &Firmware::sev_shutdown},
      {CommandId::kPlatformStatus, &Firmware::sev_platform_status},
      {CommandId::kDfFlush, &Firmware::sev_df_flush},
      {CommandId::kInitEx, &Firmware::sev_init_ex},
      {CommandId::kDecommission, &Firmware::sev_decommission},
      {CommandId::kActivate, &Firmware::sev_activate},
      {CommandId::kDeactivate, &Firmware::sev_deactivate},
      {CommandId::kGuestStatus, &Firmware::sev_guest_status},
      {CommandId::kLaunchStart, &Firmware::sev_launch_start},
      {CommandId::kLaunchUpdateData, &Firmware::sev_launch_update_data},
      {CommandId::kLaunchUpdateVmsa, &Firmware::sev_launch_update_vmsa},
      {CommandId::kLaunchMeasure, &Firmware::sev_launch_measure},
      {CommandId::kLaunchFinish, &Firmware::sev_launch_finish},
  };
  for (const Row& row : kTable) {
    if (row.id == id) return row.handler;
  }
  return nullptr;
}

Status Firmware::command(CommandId id, Hpa command_buffer) {
  last_error_.clear();
  work_ = {};
  // Cycle hook: the core integration charges from last_work() after this returns.
  if (Handler h = handler_for(id)) return (this->*h)(command_buffer);
  if (command_name(id) != "UNKNOWN") {
    return fail(Status::kUnsupported,
                std::string(command_name(id)) + " is not implemented by the model");
  }
  return fail(Status::kInvalidCommand, "unknown command id " +
                                           hex(static_cast<uint32_t>(id)));
}

Status Firmware::fail(Status status, std::string message) {
  last_error_ = std::string(status_name(status)) + ": " + std::move(message);
  return status;
}

Status Firmware::fail(const FwError& error, std::string_view context) {
  return fail(error.status, std::string(context) + ": " + error.message);
}

bool Firmware::read_host(Hpa pa, std::span<uint8_t> out, std::string_view what) {
  if (pa.value > ~uint64_t{0} - out.size() || !mem_->contains(pa, out.size()) ||
      !mem_->read(pa, out)) {
    fail(Status::kInvalidAddress,
         std::string(what) + " at " + hex(pa.value) + " lies outside host memory");
    return false;
  }
  return true;
}

Status Firmware::require_init() {
  if (state_ == PlatformState::kInit) return Status::kSuccess;
  return fail(Status::kInvalidPlatformState, "the platform is not initialised (SNP_INIT)");
}

const memcrypt::Key& Firmware::vek(const GuestContextInfo& g) const {
  return veks_[static_cast<size_t>(&g - guests_.data())];
}

const GuestContextInfo* Firmware::guest(Hpa gctx) const {
  for (const GuestContextInfo& g : guests_) {
    if (g.gctx == gctx) return &g;
  }
  return nullptr;
}

std::expected<GuestContextInfo*, Status> Firmware::live_guest(
    Hpa gctx, std::initializer_list<GuestState> states) {
  if (Status s = require_init(); s != Status::kSuccess) return std::unexpected(s);
  GuestContextInfo* g = nullptr;
  for (GuestContextInfo& c : guests_) {
    if (c.gctx == gctx) g = &c;
  }
  // UNCONFIRMED: INVALID_GUEST for an address that is not a live context page.
  if (g == nullptr) {
    return std::unexpected(
        fail(Status::kInvalidGuest, hex(gctx.value) + " is not a guest context page"));
  }
  if (std::find(states.begin(), states.end(), g->state) == states.end()) {
    return std::unexpected(fail(Status::kInvalidGuestState,
                                "guest context " + hex(gctx.value) + " is in state " +
                                    std::to_string(static_cast<int>(g->state))));
  }
  return g;
}

Digest384 Firmware::fingerprint() const {
  std::vector<uint8_t> b;
  auto put = [&b](const void* p, size_t n) {
    const auto* u = static_cast<const uint8_t*>(p);
    b.insert(b.end(), u, u + n);
  };
  auto put64 = [&put](uint64_t v) { put(&v, 8); };
  put64(static_cast<uint64_t>(state_));
  put64(wbinvd_done_);
  put64(rapl_dis_ | (ciphertext_hiding_en_ << 1));
  put64(max_snp_asid_);
  put64(next_guest_id_);
  for (uint64_t a : asids_need_flush_) put64(a);
  put64(guests_.size());
  for (const GuestContextInfo& g : guests_) {
    put64(g.gctx.value);
    put64(g.guest_id);
    put64(static_cast<uint64_t>(g.state));
    put64(g.asid.value);
    put64(g.policy);
    put64(g.imi_en | (g.id_block_en << 1) | (g.author_key_en << 2) | (g.vcek_disabled << 3));
    put64(g.desired_tsc_khz);
    put(g.gosvw.data(), g.gosvw.size());
    put(g.digest.digest().data(), 48);
    for (uint8_t n = 0; n < 4; ++n) put64(g.channel.counter(n));
    put64(g.launched.size());
    for (const LaunchedPage& p : g.launched) {
      put64(p.pfn.value);
      put64(static_cast<uint64_t>(p.type) | (uint64_t{p.vmpl_perms[0]} << 8) |
            (uint64_t{p.vmpl_perms[1]} << 16) | (uint64_t{p.vmpl_perms[2]} << 24));
    }
    put(g.host_data.data(), g.host_data.size());
    put(g.id_key_digest.data(), 48);
    put(g.author_key_digest.data(), 48);
    const auto idb = serialize_id_block(g.id_block);
    put(idb.data(), idb.size());
  }
  // Legacy SEV (the keys and the LD hash state are functions of the handle and update_chain).
  put64(static_cast<uint64_t>(sev_state_) | (uint64_t{sev_es_enabled_} << 8));
  put64(sev_tmr_address_);
  put64(sev_tmr_len_);
  put64(next_sev_handle_);
  put64(sev_guests_.size());
  for (const SevGuestInfo& g : sev_guests_) {
    put64(g.handle | (uint64_t{g.policy} << 32));
    put64(static_cast<uint64_t>(g.state) | (uint64_t{g.asid.value} << 8));
    put64(g.measured_bytes);
    put64(g.vmsa_count);
    put(g.update_chain.data(), 32);
    put(g.launch_digest.data(), 32);
    put(g.measurement.data(), 32);
  }
  return sha384(b);
}

std::vector<std::string> Firmware::check_invariants() const {
  std::vector<std::string> out;
  std::vector<uint64_t> seen;  // every pfn the firmware holds (context or launched)
  auto note = [&](uint64_t pfn, const std::string& what) {
    if (std::find(seen.begin(), seen.end(), pfn) != seen.end()) {
      out.push_back(what + ": page " + hex(pfn << kPageShift) + " is held twice");
    }
    seen.push_back(pfn);
  };
  for (size_t i = 0; i < guests_.size(); ++i) {
    const GuestContextInfo& g = guests_[i];
    const std::string name = "guest " + hex(g.gctx.value);
    const rmp::RmpEntry ce = rmp_->entry(pfn_of(g.gctx));
    if (!detail::is_context(ce)) out.push_back(name + ": context page is " + ce.to_string());
    note(pfn_of(g.gctx).value, name);
    for (size_t j = 0; j < i; ++j) {
      if (g.asid.value != 0 && guests_[j].asid == g.asid) {
        out.push_back(name + ": ASID " + std::to_string(g.asid.value) + " bound twice");
      }
    }
    if (keys_ != nullptr && g.asid.value != 0 && keys_->key(g.asid) != vek(g)) {
      out.push_back(name + ": key slot of ASID " + std::to_string(g.asid.value) +
                    " does not hold the guest's VEK");
    }
    for (const LaunchedPage& p : g.launched) {
      const rmp::RmpEntry e = rmp_->entry(p.pfn);
      note(p.pfn.value, name);
      if (!e.assigned || e.asid.value == 0 || e.asid != g.asid) {
        out.push_back(name + ": launched page " + hex(p.pfn.value << kPageShift) +
                      " is " + e.to_string() + ", expected ASID " +
                      std::to_string(g.asid.value));
      }
      if (g.state != GuestState::kRunning && !e.immutable) {
        out.push_back(name + ": launched page " + hex(p.pfn.value << kPageShift) +
                      " lost Immutable before LAUNCH_FINISH");
      }
    }
  }
  // Legacy SEV: guests only on an initialised platform, WORKING exactly while guests exist, one
  // guest per ASID across both APIs, and every bound ASID's slot holding the guest's VEK.
  if (sev_state_ == SevPlatformState::kUninit && !sev_guests_.empty()) {
    out.push_back("legacy guests exist on an uninitialised legacy platform");
  }
  if (sev_state_ != SevPlatformState::kUninit &&
      (sev_state_ == SevPlatformState::kWorking) != !sev_guests_.empty()) {
    out.push_back("legacy platform state " + std::to_string(static_cast<int>(sev_state_)) +
                  " with " + std::to_string(sev_guests_.size()) + " legacy guests");
  }
  for (size_t i = 0; i < sev_guests_.size(); ++i) {
    const SevGuestInfo& g = sev_guests_[i];
    const std::string name = "legacy guest " + std::to_string(g.handle);
    if (g.state == SevGuestState::kUninit) out.push_back(name + ": in state UNINIT");
    if (g.asid.value == 0) continue;
    for (const GuestContextInfo& s : guests_) {
      if (s.asid == g.asid) {
        out.push_back(name + ": ASID " + std::to_string(g.asid.value) + " also bound to " +
                      hex(s.gctx.value));
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (sev_guests_[j].asid == g.asid) {
        out.push_back(name + ": ASID " + std::to_string(g.asid.value) + " bound twice");
      }
    }
    if (keys_ != nullptr && keys_->key(g.asid) != sev_secrets_[i].keys.vek) {
      out.push_back(name + ": key slot of ASID " + std::to_string(g.asid.value) +
                    " does not hold the guest's VEK");
    }
  }
  return out;
}

}  // namespace snpemu::fw
