// firmware/sev_launch.cc: legacy SEV / SEV-ES launch: LAUNCH_START, LAUNCH_UPDATE_DATA,
// LAUNCH_UPDATE_VMSA, LAUNCH_MEASURE, LAUNCH_FINISH. PLATFORM-FACTS 8.1; layouts in
// sev_command_layout.h [L psp-sev.h sev_data_launch_*]; keys and the measurement in sev_keys.cc;
// rules in firmware.h (mailbox section, "legacy SEV"). LAUNCH_UPDATE_SECRET (0x034) is not
// modelled (UNSUPPORTED through the dispatcher): it needs a guest-owner session (TEK wrapping).
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"
#include "firmware/ossl.h"

namespace snpemu::fw {
namespace {

using MdPtr = std::shared_ptr<evp_md_ctx_st>;

MdPtr new_md() {
  return MdPtr(EVP_MD_CTX_new(), [](EVP_MD_CTX* c) { EVP_MD_CTX_free(c); });
}

// A fresh SHA-256 context: a copy of `from` (or a new one) with `data` absorbed.
std::expected<MdPtr, FwError> sha256_extend(const MdPtr& from, std::span<const uint8_t> data) {
  MdPtr c = new_md();
  const bool ok = c != nullptr &&
                  (from ? EVP_MD_CTX_copy_ex(c.get(), from.get()) == 1
                        : EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr) == 1) &&
                  EVP_DigestUpdate(c.get(), data.data(), data.size()) == 1;
  if (!ok) return std::unexpected(ossl::crypto_error("SHA-256 update"));
  return c;
}

// SHA-256 of everything absorbed by `ctx` (which is left unchanged).
std::expected<std::array<uint8_t, 32>, FwError> sha256_final(const MdPtr& ctx) {
  std::array<uint8_t, 32> out{};
  auto c = sha256_extend(ctx, {});
  unsigned int len = 0;
  if (!c || EVP_DigestFinal_ex(c->get(), out.data(), &len) != 1 || len != 32) {
    return std::unexpected(ossl::crypto_error("SHA-256 final"));
  }
  return out;
}

uint32_t pages_in(uint64_t pa, uint64_t len) {
  return len == 0 ? 0
                  : static_cast<uint32_t>(((pa + len - 1) >> kPageShift) - (pa >> kPageShift) + 1);
}

}  // namespace

Status Firmware::sev_launch_start(Hpa buf) {
  SevDataLaunchStart cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "LAUNCH_START buffer")) {
    return Status::kInvalidAddress;
  }
  if (Status s = require_sev_init(); s != Status::kSuccess) return s;
  // The firmware writes the new handle back [L sev_cmd_buf_writable: LAUNCH_START].
  if (Status s = require_legacy_fw_pages(buf, sizeof cmd, "LAUNCH_START buffer");
      s != Status::kSuccess) {
    return s;
  }
  if (cmd.handle != 0) {  // SEV API: a handle in LAUNCH_START asks to share that guest's keys
    if (sev_guest(cmd.handle) == nullptr) {
      return fail(Status::kInvalidGuest, "LAUNCH_START: key-sharing handle " +
                                             std::to_string(cmd.handle) + " names no guest");
    }
    return fail(Status::kUnsupported,
                "LAUNCH_START: key sharing with an existing guest is not modelled");
  }
  if (cmd.dh_cert_len != 0 || cmd.session_len != 0) {
    return fail(Status::kUnsupported,
                "LAUNCH_START: guest-owner sessions are not modelled (dh_cert_len " +
                    std::to_string(cmd.dh_cert_len) + ", session_len " +
                    std::to_string(cmd.session_len) + "; both must be 0)");
  }
  if (cmd.reserved != 0) {  // UNCONFIRMED status
    return fail(Status::kInvalidParam, "LAUNCH_START: reserved field is " + hex(cmd.reserved));
  }
  // Policy checks (UNCONFIRMED: statuses and that undefined bits are refused).
  const uint32_t p = cmd.policy;
  if ((p & sev_policy::kReservedMask) != 0) {
    return fail(Status::kPolicyFailure, "LAUNCH_START: policy " + hex(p) + " has undefined bits " +
                                            hex(p & sev_policy::kReservedMask));
  }
  const uint32_t want_major = (p >> sev_policy::kApiMajorShift) & 0xFF;
  const uint32_t want_minor = (p >> sev_policy::kApiMinorShift) & 0xFF;
  if (want_major > config_.api_major ||
      (want_major == config_.api_major && want_minor > config_.api_minor)) {
    return fail(Status::kPolicyFailure,
                "LAUNCH_START: policy needs API " + std::to_string(want_major) + "." +
                    std::to_string(want_minor) + ", firmware is " +
                    std::to_string(config_.api_major) + "." + std::to_string(config_.api_minor));
  }
  if ((p & sev_policy::kEs) != 0 && !sev_es_enabled_) {
    return fail(Status::kPolicyFailure,
                "LAUNCH_START: policy ES, but INIT did not enable SEV-ES (flags SEV_ES, TMR)");
  }
  if (next_sev_handle_ == 0) {  // 2^32 - 1 handles issued
    return fail(Status::kResourceLimit, "LAUNCH_START: guest handles exhausted");
  }
  const uint32_t handle = next_sev_handle_;
  auto keys = derive_sev_guest_keys(config_.platform_seed, handle);
  if (!keys) return fail(keys.error(), "LAUNCH_START");
  auto ld = sha256_extend(nullptr, {});
  if (!ld) return fail(ld.error(), "LAUNCH_START");
  // Act.
  SevGuestInfo g;
  g.handle = handle;
  g.policy = p;
  g.state = SevGuestState::kLupdate;
  sev_guests_.push_back(g);
  sev_secrets_.push_back({*keys, std::move(*ld)});
  next_sev_handle_++;
  sev_state_ = SevPlatformState::kWorking;  // SEV API: INIT -> WORKING with the first guest
  cmd.handle = handle;
  (void)mem_->write(buf, detail::bytes_of(cmd));
  return Status::kSuccess;
}

Status Firmware::sev_launch_update_data(Hpa buf) { return sev_launch_update(buf, false); }
Status Firmware::sev_launch_update_vmsa(Hpa buf) { return sev_launch_update(buf, true); }

Status Firmware::sev_launch_update(Hpa buf, bool vmsa) {
  const std::string name = vmsa ? "LAUNCH_UPDATE_VMSA" : "LAUNCH_UPDATE_DATA";
  SevDataLaunchUpdate cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, name + " buffer")) {
    return Status::kInvalidAddress;
  }
  // Only while the launch is open (SEV API: LUPDATE state).
  auto g = live_sev_guest(cmd.handle, name, {SevGuestState::kLupdate});
  if (!g) return g.error();
  SevGuestInfo& c = **g;
  if (vmsa && (c.policy & sev_policy::kEs) == 0) {  // UNCONFIRMED status
    return fail(Status::kPolicyFailure, name + ": guest " + std::to_string(c.handle) +
                                            " is not an SEV-ES guest (policy bit ES clear)");
  }
  // UNCONFIRMED: the firmware encrypts through the guest's ASID, so ACTIVATE comes first (KVM's
  // order, sev_bind_asid right after LAUNCH_START); as SNP_LAUNCH_UPDATE in this model.
  if (c.asid.value == 0) {
    return fail(Status::kInactive, name + ": guest has no ASID (ACTIVATE first)");
  }
  if (cmd.reserved != 0) {  // UNCONFIRMED status
    return fail(Status::kInvalidParam, name + ": reserved field is " + hex(cmd.reserved));
  }
  // SEV API: LEN a multiple of 16, ADDRESS 16-byte aligned (the cipher's block). The VMSA is one
  // page [L KVM sev.c: LAUNCH_UPDATE_VMSA of the vCPU's VMSA page, len PAGE_SIZE].
  // UNCONFIRMED statuses; a zero length is refused (UNCONFIRMED).
  const uint64_t align = vmsa ? kPageSize : 16;
  if (cmd.len == 0 || cmd.len % 16 != 0 || (vmsa && cmd.len != kPageSize)) {
    return fail(Status::kInvalidLength,
                name + ": len " + std::to_string(cmd.len) +
                    (vmsa ? ", expected 4096" : ", expected a non-zero multiple of 16"));
  }
  if (cmd.address % align != 0) {
    return fail(Status::kInvalidAddress, name + ": address " + hex(cmd.address) + " is not " +
                                             std::to_string(align) + "-byte aligned");
  }
  const Hpa pa{cmd.address};
  if (cmd.address > ~uint64_t{0} - cmd.len || !mem_->contains(pa, cmd.len)) {
    return fail(Status::kInvalidAddress, name + ": [" + hex(cmd.address) + ", +" + hex(cmd.len) +
                                             ") lies outside host memory");
  }
  if (Status s = require_legacy_fw_pages(pa, cmd.len, name + " range"); s != Status::kSuccess) {
    return s;
  }
  std::vector<uint8_t> data(cmd.len);
  (void)mem_->read(pa, data);
  SevSecrets& secret = sev_secrets_[static_cast<size_t>(&c - sev_guests_.data())];
  auto next_ld = sha256_extend(secret.ld, data);  // LD covers the plaintext (SEV API)
  if (!next_ld) return fail(next_ld.error(), name);
  std::vector<uint8_t> chain_in(c.update_chain.begin(), c.update_chain.end());
  chain_in.insert(chain_in.end(), data.begin(), data.end());
  auto chain_ctx = sha256_extend(nullptr, chain_in);
  if (!chain_ctx) return fail(chain_ctx.error(), name);
  auto chain = sha256_final(*chain_ctx);
  if (!chain) return fail(chain.error(), name);
  // Act: encrypt in place with the guest's VEK at each byte's host-physical address [L KVM
  // sev.c sev_launch_update_data: the firmware encrypts the pinned pages in place].
  const uint32_t pages = pages_in(cmd.address, cmd.len);
  if (keys_ != nullptr) {
    memcrypt::apply(secret.keys.vek, cmd.address, data);
    (void)mem_->write(pa, data);
    work_.pages_written += pages;
    work_.pages_encrypted += pages;
  }
  work_.pages_hashed += pages;  // ESTIMATE: SHA-256 charged like the SNP page hash
  secret.ld = std::move(*next_ld);
  c.update_chain = *chain;
  c.measured_bytes += cmd.len;
  if (vmsa) c.vmsa_count++;
  return Status::kSuccess;
}

Status Firmware::sev_launch_measure(Hpa buf) {
  SevDataLaunchMeasure cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "LAUNCH_MEASURE buffer")) {
    return Status::kInvalidAddress;
  }
  auto g = live_sev_guest(cmd.handle, "LAUNCH_MEASURE", {SevGuestState::kLupdate});
  if (!g) return g.error();
  SevGuestInfo& c = **g;
  // The firmware writes len back [L sev_cmd_buf_writable: LAUNCH_MEASURE].
  if (Status s = require_legacy_fw_pages(buf, sizeof cmd, "LAUNCH_MEASURE buffer");
      s != Status::kSuccess) {
    return s;
  }
  // UNCONFIRMED status: an SEV-ES guest is measured with its VMSAs [brief; KVM issues
  // LAUNCH_UPDATE_VMSA for every vCPU before LAUNCH_MEASURE, sev.c sev_launch_update_vmsa].
  if ((c.policy & sev_policy::kEs) != 0 && c.vmsa_count == 0) {
    return fail(Status::kInvalidGuestState, "LAUNCH_MEASURE: SEV-ES guest " +
                                                std::to_string(c.handle) +
                                                " has no VMSA yet (LAUNCH_UPDATE_VMSA first)");
  }
  if (cmd.reserved != 0) {  // UNCONFIRMED status
    return fail(Status::kInvalidParam, "LAUNCH_MEASURE: reserved field is " + hex(cmd.reserved));
  }
  // SEV API: a buffer too small gets INVALID_LENGTH and the needed length in LEN; KVM's
  // sev_launch_measure queries the length with len 0 that way [L KVM sev.c]. The length is the
  // only thing written (to the command buffer, not to firmware state).
  if (cmd.len < sizeof(SevMeasurementBlob)) {
    const uint32_t need = sizeof(SevMeasurementBlob);
    (void)mem_->write(Hpa{buf.value + offsetof(SevDataLaunchMeasure, len)}, detail::bytes_of(need));
    return fail(Status::kInvalidLength, "LAUNCH_MEASURE: len " + std::to_string(cmd.len) + ", " +
                                            std::to_string(need) + " needed (written back)");
  }
  const Hpa out{cmd.address};
  if (cmd.address > ~uint64_t{0} - sizeof(SevMeasurementBlob) ||
      !mem_->contains(out, sizeof(SevMeasurementBlob))) {
    return fail(Status::kInvalidAddress,
                "LAUNCH_MEASURE: address " + hex(cmd.address) + " lies outside host memory");
  }
  if (Status s = require_legacy_fw_pages(out, sizeof(SevMeasurementBlob), "LAUNCH_MEASURE output");
      s != Status::kSuccess) {
    return s;
  }
  const SevSecrets& secret = sev_secrets_[static_cast<size_t>(&c - sev_guests_.data())];
  auto ld = sha256_final(secret.ld);
  if (!ld) return fail(ld.error(), "LAUNCH_MEASURE");
  auto m = sev_launch_measurement(secret.keys.tik, config_.api_major, config_.api_minor,
                                  static_cast<uint8_t>(config_.build_id), c.policy, *ld,
                                  secret.keys.mnonce);
  if (!m) return fail(m.error(), "LAUNCH_MEASURE");
  // Act.
  SevMeasurementBlob blob;
  blob.measurement = *m;
  blob.mnonce = secret.keys.mnonce;
  (void)mem_->write(out, detail::bytes_of(blob));
  cmd.len = sizeof blob;
  (void)mem_->write(buf, detail::bytes_of(cmd));
  work_.pages_written++;
  c.launch_digest = *ld;
  c.measurement = *m;
  c.state = SevGuestState::kLsecret;
  return Status::kSuccess;
}

Status Firmware::sev_launch_finish(Hpa buf) {
  SevDataHandle cmd;
  if (!read_host(buf, {reinterpret_cast<uint8_t*>(&cmd), sizeof cmd}, "LAUNCH_FINISH buffer")) {
    return Status::kInvalidAddress;
  }
  // SEV API: LSECRET -> RUNNING; the measurement (LAUNCH_MEASURE) comes first.
  auto g = live_sev_guest(cmd.handle, "LAUNCH_FINISH", {SevGuestState::kLsecret});
  if (!g) return g.error();
  (*g)->state = SevGuestState::kRunning;
  return Status::kSuccess;
}

}  // namespace snpemu::fw
