// firmware/guest_request.cc: SNP_GUEST_REQUEST: open the guest's message from the request page,
// answer MSG_REPORT_REQ / MSG_KEY_REQ, seal the response into the response page.
// PLATFORM-FACTS 8.6, 8.7; pages as KVM uses them [L KVM sev.c snp_handle_guest_req: the request
// is copied into a hypervisor page, the response buffer comes from snp_alloc_firmware_page].
#include <algorithm>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"

namespace snpemu::fw {

Status Firmware::snp_guest_request(Hpa buf) {
  std::array<uint8_t, CmdGctxAddrs::kSizeThree> raw{};
  if (!read_host(buf, raw, "SNP_GUEST_REQUEST buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_gctx_addrs(raw, 3);
  if (!cmd) return fail(cmd.error(), "SNP_GUEST_REQUEST");
  auto g = live_guest(cmd->gctx_paddr, {GuestState::kRunning});
  if (!g) return g.error();
  GuestContextInfo& c = **g;
  const Hpa req_pa = cmd->first;
  const Hpa rsp_pa = cmd->second;
  for (Hpa pa : {req_pa, rsp_pa}) {
    if ((pa.value & kPageOffsetMask) != 0 || !mem_->contains(pa, kPageSize) ||
        !rmp_->covers(pfn_of(pa), 1)) {
      return fail(Status::kInvalidAddress,
                  "SNP_GUEST_REQUEST: page " + hex(pa.value) + " is not usable");
    }
  }
  // UNCONFIRMED: the request page must be a hypervisor page (the firmware does not read another
  // owner's page on the hypervisor's behalf); the response page must be a firmware page [L].
  const rmp::RmpEntry req_e = rmp_->entry(pfn_of(req_pa));
  const rmp::RmpEntry rsp_e = rmp_->entry(pfn_of(rsp_pa));
  work_.rmp_reads += 2;
  if (req_e.assigned) {
    return fail(Status::kInvalidPageState,
                "SNP_GUEST_REQUEST: request page is " + req_e.to_string());
  }
  if (!detail::is_firmware(rsp_e)) {
    return fail(Status::kInvalidPageState,
                "SNP_GUEST_REQUEST: response page is " + rsp_e.to_string() +
                    ", not a firmware page");
  }
  std::array<uint8_t, kPageSize> req{};
  (void)mem_->read(req_pa, req);
  // Work on a copy of the channel: its counters advance only if the whole command succeeds.
  GuestChannel channel = c.channel;
  auto msg = channel.open_request(req);
  work_.aead_messages++;
  if (!msg) return fail(msg.error(), "SNP_GUEST_REQUEST");
  const Vmpl key_vmpl{msg->header.msg_vmpck};
  std::vector<uint8_t> payload;
  switch (static_cast<MsgType>(msg->header.msg_type)) {
    case MsgType::kReportReq: {
      auto rq = parse_report_req(msg->payload);
      if (!rq) return fail(rq.error(), "SNP_GUEST_REQUEST(MSG_REPORT_REQ)");
      MsgReportRsp rsp;
      if (c.vcek_disabled) {
        // UNCONFIRMED: VCEK_DISABLED at LAUNCH_FINISH and no VLEK (not modelled): no key can
        // sign, answered in the response status.
        rsp.status = static_cast<uint32_t>(Status::kInvalidKey);
      } else {
        ReportInputs in;
        in.guest_svn = c.id_block.guest_svn;
        in.policy = c.policy;
        in.family_id = c.id_block.family_id;
        in.image_id = c.id_block.image_id;
        in.platform_version = config_.current_tcb;
        in.platform_info = config_.platform_info;
        in.author_key_en = c.author_key_en;
        in.mask_chip_id = config_.mask_chip_id;
        in.measurement = c.digest.digest();
        in.host_data = c.host_data;
        in.id_key_digest = c.id_key_digest;
        in.author_key_digest = c.author_key_digest;
        in.report_id = c.report_id;
        in.reported_tcb = config_.reported_tcb;
        in.cpuid_fam_id = static_cast<uint8_t>(((config_.fms >> 8) & 0xF) +
                                               ((config_.fms >> 20) & 0xFF));
        in.cpuid_mod_id = static_cast<uint8_t>(((config_.fms >> 4) & 0xF) |
                                               (((config_.fms >> 16) & 0xF) << 4));
        in.cpuid_step = static_cast<uint8_t>(config_.fms & 0xF);
        in.chip_id = config_.chip_id;
        in.committed_tcb = config_.committed_tcb;
        in.current_build = static_cast<uint8_t>(config_.build_id);
        in.current_minor = config_.api_minor;
        in.current_major = config_.api_major;
        in.committed_build = config_.committed_build;
        in.committed_minor = config_.committed_minor;
        in.committed_major = config_.committed_major;
        in.launch_tcb = c.launch_tcb;
        auto report = build_signed_report(in, rq->report_data, rq->vmpl, key_vmpl, vcek_);
        if (report) {
          rsp.report_size = kReportSize;
          rsp.report = *report;
          work_.signatures++;
        } else if (report.error().kind == ErrorKind::kCrypto) {
          return fail(report.error(), "SNP_GUEST_REQUEST(MSG_REPORT_REQ)");
        } else {
          rsp.status = static_cast<uint32_t>(report.error().status);
        }
      }
      payload = serialize_report_rsp(rsp);
      break;
    }
    case MsgType::kKeyReq: {
      auto rq = parse_key_req(msg->payload);
      if (!rq) return fail(rq.error(), "SNP_GUEST_REQUEST(MSG_KEY_REQ)");
      KeyInputs in;
      in.policy = c.policy;
      in.image_id = c.id_block.image_id;
      in.family_id = c.id_block.family_id;
      in.measurement = c.digest.digest();
      in.guest_svn = c.id_block.guest_svn;
      in.current_tcb = config_.current_tcb;
      MsgKeyRsp rsp;
      auto key = derive_guest_key(config_.platform_seed, *rq, in, key_vmpl);
      if (key) {
        rsp.derived_key = *key;
      } else if (key.error().kind == ErrorKind::kCrypto) {
        return fail(key.error(), "SNP_GUEST_REQUEST(MSG_KEY_REQ)");
      } else {
        rsp.status = static_cast<uint32_t>(key.error().status);
      }
      const auto bytes = serialize_key_rsp(rsp);
      payload.assign(bytes.begin(), bytes.end());
      break;
    }
    default:
      // UNCONFIRMED: other message types (export/import/absorb/VMRK/TSC) are not modelled; the
      // command fails and the sequence number is not consumed.
      return fail(Status::kInvalidParam, "SNP_GUEST_REQUEST: message type " +
                                             std::to_string(msg->header.msg_type) +
                                             " is not supported");
  }
  auto sealed = channel.seal_response(msg->header, payload);
  work_.aead_messages++;
  if (!sealed) return fail(sealed.error(), "SNP_GUEST_REQUEST");
  std::array<uint8_t, kPageSize> out{};
  std::copy(sealed->begin(), sealed->end(), out.begin());
  // Act.
  (void)mem_->write(rsp_pa, out);
  work_.pages_written++;
  c.channel = channel;
  return Status::kSuccess;
}

}  // namespace snpemu::fw
