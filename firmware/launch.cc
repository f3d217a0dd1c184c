// firmware/launch.cc: SNP_LAUNCH_START, SNP_LAUNCH_UPDATE, SNP_LAUNCH_FINISH.
// PLATFORM-FACTS 8.2-8.5, 8.10; page states in firmware.h (mailbox section).
#include <algorithm>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"

namespace snpemu::fw {

Status Firmware::snp_launch_start(Hpa buf) {
  std::array<uint8_t, CmdLaunchStart::kSize> raw{};
  if (!read_host(buf, raw, "SNP_LAUNCH_START buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_launch_start(raw);
  if (!cmd) return fail(cmd.error(), "SNP_LAUNCH_START");
  auto g = live_guest(cmd->gctx_paddr, {GuestState::kInit});
  if (!g) return g.error();
  PlatformPolicyConfig platform = config_.policy;
  platform.rapl_disabled = rapl_dis_;
  platform.ciphertext_hiding_enabled = ciphertext_hiding_en_;
  if (auto ok = check_launch_start_policy(cmd->policy, platform, cmd->ma_en); !ok) {
    return fail(ok.error(), "SNP_LAUNCH_START");
  }
  if (cmd->ma_en) {  // UNCONFIRMED status: migration agents are not modelled
    return fail(Status::kUnsupported, "SNP_LAUNCH_START: migration agent (MA_EN) not modelled");
  }
  GuestContextInfo& c = **g;
  c.policy = cmd->policy;
  c.imi_en = cmd->imi_en;
  c.desired_tsc_khz = cmd->desired_tsc_khz;
  c.gosvw = cmd->gosvw;
  c.launch_tcb = config_.current_tcb;
  c.state = GuestState::kLaunch;
  return Status::kSuccess;
}

Status Firmware::snp_launch_update(Hpa buf) {
  std::array<uint8_t, CmdLaunchUpdate::kSize> raw{};
  if (!read_host(buf, raw, "SNP_LAUNCH_UPDATE buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_launch_update(raw);
  if (!cmd) return fail(cmd.error(), "SNP_LAUNCH_UPDATE");
  auto g = live_guest(cmd->gctx_paddr, {GuestState::kLaunch});
  if (!g) return g.error();
  GuestContextInfo& c = **g;
  // UNCONFIRMED: the pages must belong to the guest's ASID, so SNP_ACTIVATE comes first (KVM's
  // order, PLATFORM-FACTS 8.10); before it the guest is INACTIVE.
  if (c.asid.value == 0) {
    return fail(Status::kInactive, "SNP_LAUNCH_UPDATE: guest has no ASID (SNP_ACTIVATE first)");
  }
  if (cmd->page_size_2m) {  // KVM always uses 4K (PLATFORM-FACTS 8.4); 2M is not modelled
    return fail(Status::kUnsupported, "SNP_LAUNCH_UPDATE: 2 MiB pages are not modelled");
  }
  const uint8_t perms[3] = {cmd->vmpl1_perms, cmd->vmpl2_perms, cmd->vmpl3_perms};
  for (int v = 0; v < 3; ++v) {
    if (perms[v] > rmp::perm::kAll) {  // UNCONFIRMED: only the 4 RMP permission bits exist
      return fail(Status::kInvalidParam, "SNP_LAUNCH_UPDATE: VMPL" + std::to_string(v + 1) +
                                             " permissions " + hex(perms[v]));
    }
  }
  if (cmd->imi_page && !c.imi_en) {  // UNCONFIRMED
    return fail(Status::kInvalidParam, "SNP_LAUNCH_UPDATE: IMI page without IMI_EN");
  }
  const Hpa pa = cmd->address;
  const Pfn pfn = pfn_of(pa);
  if (!mem_->contains(pa, kPageSize) || !rmp_->covers(pfn, 1) || rmp_->is_rmp_page(pfn)) {
    return fail(Status::kInvalidAddress,
                "SNP_LAUNCH_UPDATE: page " + hex(pa.value) + " is not usable");
  }
  // The page must be Pre-Guest for this guest: assigned to its ASID, 4K, immutable, not yet
  // validated [L KVM: RMPUPDATE private, immutable = 1, before SNP_LAUNCH_UPDATE, PLATFORM-FACTS
  // 8.3]. The GPA measured is the entry's GPA (the command has no GPA field, PLATFORM-FACTS 8.2).
  const rmp::RmpEntry e = rmp_->entry(pfn);
  work_.rmp_reads++;
  const std::string where = "SNP_LAUNCH_UPDATE: page " + hex(pa.value) + " ";
  // UNCONFIRMED statuses: unassigned -> INVALID_PAGE_STATE, another owner -> INVALID_PAGE_OWNER.
  if (!e.assigned) {
    return fail(Status::kInvalidPageState,
                where + "is not assigned (expected pre-guest for ASID " +
                    std::to_string(c.asid.value) + ")");
  }
  if (e.asid != c.asid) {
    return fail(Status::kInvalidPageOwner, where + "is " + e.to_string() +
                                               ", expected assigned to ASID " +
                                               std::to_string(c.asid.value));
  }
  if (e.page_size != rmp::PageSize::k4K) {
    return fail(Status::kInvalidPageSize, where + "has a 2M RMP entry for a 4K update");
  }
  if (!e.immutable || e.validated || e.vmsa) {
    return fail(Status::kInvalidPageState, where + "is " + e.to_string() +
                                               ", expected pre-guest (immutable, not validated)");
  }
  for (const LaunchedPage& p : c.launched) {
    if (p.pfn == pfn) return fail(Status::kInvalidPageState, where + "was already launched");
    // UNCONFIRMED: two host pages for one GPA in one launch are refused (the guest would have
    // two backings for one address). VMSA pages are exempt among themselves: KVM gives every
    // vCPU's VMSA the same GPA 0xFFFF_FFFF_F000 (PLATFORM-FACTS 8.3 [L]), and they are not
    // guest memory.
    const bool both_vmsa = p.type == PageType::kVmsa && cmd->page_type == PageType::kVmsa;
    if (!both_vmsa && rmp_->entry(p.pfn).gpa == e.gpa) {
      return fail(Status::kInvalidParam,
                  where + "has GPA " + hex(e.gpa.value) + ", already launched");
    }
  }
  // Contents by page type (PLATFORM-FACTS 8.3, 8.4, 8.8).
  std::array<uint8_t, kPageSize> page{};
  (void)mem_->read(pa, page);
  bool write_page = false;
  switch (cmd->page_type) {
    case PageType::kNormal:
    case PageType::kVmsa:
    case PageType::kUnmeasured:
      break;
    case PageType::kZero:
      page.fill(0);
      write_page = true;
      break;
    case PageType::kSecrets: {
      SecretsInputs in;
      in.imi_en = c.imi_en;
      in.fms = config_.fms;
      in.gosvw = c.gosvw;
      page = serialize_secrets_page(build_secrets_page(c.vmpcks, in));
      write_page = true;
      break;
    }
    case PageType::kCpuid: {
      auto parsed = parse_cpuid_page(page);
      if (!parsed) return fail(parsed.error(), "SNP_LAUNCH_UPDATE(CPUID)");
      bool changed = false;
      auto fixed = sanitize_cpuid_page(*parsed, config_.cpuid_rules, &changed);
      if (!fixed) return fail(fixed.error(), "SNP_LAUNCH_UPDATE(CPUID)");
      if (changed) {
        // PLATFORM-FACTS 8.3: refused with INVALID_PARAM; the corrected page is written back,
        // unencrypted (the one write a failed command makes; nothing else changes).
        (void)mem_->write(pa, serialize_cpuid_page(*fixed));
        work_.pages_written++;
        return fail(Status::kInvalidParam,
                    where + "CPUID page has values the platform does not allow; corrected page "
                            "written back");
      }
      break;
    }
  }
  LaunchDigest next = c.digest;
  PageOptions opts;
  opts.imi_page = cmd->imi_page;
  opts.vmpl1_perms = perms[0];
  opts.vmpl2_perms = perms[1];
  opts.vmpl3_perms = perms[2];
  if (auto ok = next.update(cmd->page_type, e.gpa, page, opts); !ok) {
    return fail(ok.error(), "SNP_LAUNCH_UPDATE");
  }
  // Act. With memory encryption the page is left encrypted in place with the VEK at its
  // host-physical address, whatever its type: the digest above is over the plaintext, the guest
  // reads the plaintext through its ASID's key (firmware.h, mailbox section). UNCONFIRMED: SNP
  // VMSA register protection (SEV_FEATURES VmsaRegProt with the secrets page's VMSA tweak bitmap)
  // is not modelled: the VMSA is encrypted like any other page, as the core decrypts it.
  if (keys_ != nullptr) {
    memcrypt::apply(vek(c), pa.value, page);
    write_page = true;
    work_.pages_encrypted++;
  }
  if (write_page) {
    (void)mem_->write(pa, page);
    work_.pages_written++;
  }
  if (cmd->page_type == PageType::kNormal || cmd->page_type == PageType::kVmsa) {
    work_.pages_hashed++;
  }
  work_.digest_steps++;
  c.digest = next;
  c.launched.push_back({pfn, cmd->page_type, {perms[0], perms[1], perms[2]}});
  return Status::kSuccess;
}

Status Firmware::snp_launch_finish(Hpa buf) {
  std::array<uint8_t, CmdLaunchFinish::kSize> raw{};
  if (!read_host(buf, raw, "SNP_LAUNCH_FINISH buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_launch_finish(raw);
  if (!cmd) return fail(cmd.error(), "SNP_LAUNCH_FINISH");
  auto g = live_guest(cmd->gctx_paddr, {GuestState::kLaunch});
  if (!g) return g.error();
  GuestContextInfo& c = **g;
  if (c.asid.value == 0) {  // UNCONFIRMED, as for LAUNCH_UPDATE
    return fail(Status::kInactive, "SNP_LAUNCH_FINISH: guest has no ASID (SNP_ACTIVATE first)");
  }
  std::optional<IdCheckResult> id;
  if (cmd->id_block_en) {
    std::array<uint8_t, sizeof(IdBlock)> block_raw{};
    std::array<uint8_t, sizeof(IdAuth)> auth_raw{};
    if (!read_host(cmd->id_block_paddr, block_raw, "SNP_LAUNCH_FINISH ID block") ||
        !read_host(cmd->id_auth_paddr, auth_raw, "SNP_LAUNCH_FINISH ID auth")) {
      return Status::kInvalidAddress;
    }
    auto block = parse_id_block(block_raw);
    if (!block) return fail(block.error(), "SNP_LAUNCH_FINISH");
    auto auth = parse_id_auth(auth_raw);
    if (!auth) return fail(auth.error(), "SNP_LAUNCH_FINISH");
    auto checked = check_id_block(*block, *auth, cmd->auth_key_en, c.digest.digest(), c.policy);
    if (!checked) return fail(checked.error(), "SNP_LAUNCH_FINISH");
    id = *checked;
  }
  // Every launched page must still be Pre-Guest for this guest (the hypervisor cannot change
  // immutable entries; checked anyway before acting).
  for (const LaunchedPage& p : c.launched) {
    const rmp::RmpEntry e = rmp_->entry(p.pfn);
    work_.rmp_reads++;
    if (!e.assigned || e.asid != c.asid || !e.immutable || e.validated) {
      return fail(Status::kInvalidPageState, "SNP_LAUNCH_FINISH: launched page " +
                                                 hex(p.pfn.value << kPageShift) + " is " +
                                                 e.to_string());
    }
  }
  // Act: launched pages become Guest-Valid (validated, mutable; VMSA pages get the VMSA bit;
  // VMPL1-3 permissions from LAUNCH_UPDATE). UNCONFIRMED, PLATFORM-FACTS 11.11.
  for (const LaunchedPage& p : c.launched) {
    rmp::RmpEntry e = rmp_->entry(p.pfn);
    e.immutable = false;
    e.validated = true;
    e.vmsa = p.type == PageType::kVmsa;
    e.vmpl_perms = p.vmpl_perms;
    rmp_->store(p.pfn, e);
    work_.rmp_writes++;
  }
  c.launched.clear();
  c.id_block_en = cmd->id_block_en;
  c.author_key_en = cmd->auth_key_en;
  c.vcek_disabled = cmd->vcek_disabled;
  c.host_data = cmd->host_data;
  if (id) {
    c.id_block = id->block;
    c.id_key_digest = id->id_key_digest;
    c.author_key_digest = id->author_key_digest;
  }
  c.state = GuestState::kRunning;
  return Status::kSuccess;
}

}  // namespace snpemu::fw
