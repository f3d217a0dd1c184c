// firmware/platform.cc: platform commands: SNP_INIT, SNP_INIT_EX, SNP_SHUTDOWN(_EX),
// SNP_PLATFORM_STATUS, SNP_DF_FLUSH. PLATFORM-FACTS 8.1, 8.2, 8.9.
#include <algorithm>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"

namespace snpemu::fw {
namespace {

// RANGE_LIST of SNP_INIT_EX: {u32 count; u32 rsvd; {u64 base; u32 page_count; u32 rsvd}[]}.
// PLATFORM-FACTS 8.2. UNCONFIRMED: the list must fit in one 4 KiB page (Linux allocates one).
constexpr size_t kRangeListHeader = 8;
constexpr size_t kRangeEntry = 16;
constexpr uint32_t kMaxRanges = (kPageSize - kRangeListHeader) / kRangeEntry;

}  // namespace

Status Firmware::snp_init(Hpa) {
  // SNP_INIT has no command buffer [L psp-sev.h: no sev_data_snp_init]; it is INIT_EX with
  // INIT_RMP set and no range list.
  CmdInitEx cmd;
  cmd.init_rmp = true;
  return init_common(cmd);
}

Status Firmware::snp_init_ex(Hpa buf) {
  std::array<uint8_t, CmdInitEx::kSize> raw{};
  if (!read_host(buf, raw, "SNP_INIT_EX buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_init_ex(raw);
  if (!cmd) return fail(cmd.error(), "SNP_INIT_EX");
  return init_common(*cmd);
}

Status Firmware::init_common(const CmdInitEx& cmd) {
  if (state_ != PlatformState::kUninit) {
    return fail(Status::kInvalidPlatformState, "SNP_INIT: the platform is already initialised");
  }
  // [L sev-dev.c _sev_platform_init_locked: "Legacy guests cannot be running while
  // SNP_INIT(_EX) is executing", so Linux initialises SNP before legacy SEV]. UNCONFIRMED: the
  // firmware refuses SNP_INIT while the legacy platform is initialised.
  if (sev_state_ != SevPlatformState::kUninit) {
    return fail(Status::kInvalidPlatformState,
                "SNP_INIT: the legacy SEV platform is initialised (SHUTDOWN it first)");
  }
  if (cmd.tio_en) return fail(Status::kUnsupported, "SNP_INIT_EX: SEV-TIO is not modelled");
  if (cmd.max_snp_asid > config_.max_asid) {  // UNCONFIRMED status
    return fail(Status::kInvalidParam, "SNP_INIT_EX: max_snp_asid " +
                                           std::to_string(cmd.max_snp_asid) + " exceeds " +
                                           std::to_string(config_.max_asid));
  }
  // Range list: pages to make Hypervisor-Fixed. All checks before any RMP write.
  std::vector<std::pair<uint64_t, uint32_t>> ranges;
  if (cmd.list_paddr_en) {
    if (cmd.list_paddr.value & kPageOffsetMask) {
      return fail(Status::kInvalidAddress, "SNP_INIT_EX: list_paddr " +
                                               hex(cmd.list_paddr.value) + " not aligned");
    }
    std::array<uint8_t, kPageSize> page{};
    if (!read_host(cmd.list_paddr, page, "SNP_INIT_EX range list")) {
      return Status::kInvalidAddress;
    }
    const uint32_t count = detail::load_le<uint32_t>(page, 0);
    if (count > kMaxRanges) {
      return fail(Status::kInvalidLength, "SNP_INIT_EX: range list count " +
                                              std::to_string(count) + " exceeds " +
                                              std::to_string(kMaxRanges));
    }
    for (uint32_t i = 0; i < count; ++i) {
      const size_t off = kRangeListHeader + i * kRangeEntry;
      const uint64_t base = detail::load_le<uint64_t>(page, off);
      const uint32_t pages = detail::load_le<uint32_t>(page, off + 8);
      if ((base & kPageOffsetMask) != 0 || !rmp_->covers(pfn_of(Hpa{base}), pages)) {
        return fail(Status::kInvalidAddress, "SNP_INIT_EX: range " + std::to_string(i) + " (" +
                                                 hex(base) + ", " + std::to_string(pages) +
                                                 " pages) is misaligned or outside the RMP");
      }
      for (uint64_t p = 0; p < pages; ++p) {
        const Pfn pfn{(base >> kPageShift) + p};
        const rmp::RmpEntry e = rmp_->entry(pfn);
        work_.rmp_reads++;
        if (e.assigned || rmp_->is_rmp_page(pfn)) {  // UNCONFIRMED status
          return fail(Status::kInvalidPageState, "SNP_INIT_EX: range page " +
                                                     hex(pfn.value << kPageShift) +
                                                     " is " + e.to_string());
        }
      }
      ranges.emplace_back(base, pages);
    }
  }
  // Act. UNCONFIRMED: INIT_RMP asks the firmware to clear the RMP; Rmp::create's table already
  // reads as all unassigned, so nothing is rewritten here.
  for (const auto& [base, pages] : ranges) {
    for (uint64_t p = 0; p < pages; ++p) {
      rmp_->store(Pfn{(base >> kPageShift) + p}, detail::hv_fixed_entry());
      work_.rmp_writes++;
    }
  }
  state_ = PlatformState::kInit;
  rapl_dis_ = cmd.rapl_dis;
  ciphertext_hiding_en_ = cmd.ciphertext_hiding_en;
  max_snp_asid_ = cmd.max_snp_asid;
  wbinvd_done_ = false;
  return Status::kSuccess;
}

Status Firmware::snp_shutdown(Hpa) {
  // UNCONFIRMED: SHUTDOWN of an uninitialised platform succeeds (nothing to do); with guest
  // contexts alive it is refused with INVALID_PLATFORM_STATE (the hypervisor must decommission
  // them first).
  if (!guests_.empty()) {
    return fail(Status::kInvalidPlatformState,
                "SNP_SHUTDOWN: " + std::to_string(guests_.size()) + " guest contexts are alive");
  }
  state_ = PlatformState::kUninit;
  rapl_dis_ = ciphertext_hiding_en_ = false;
  max_snp_asid_ = 0;
  asids_need_flush_.clear();
  wbinvd_done_ = false;
  return Status::kSuccess;
}

Status Firmware::snp_shutdown_ex(Hpa buf) {
  std::array<uint8_t, CmdShutdownEx::kSize> raw{};
  if (!read_host(buf, raw, "SNP_SHUTDOWN_EX buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_shutdown_ex(raw);
  if (!cmd) return fail(cmd.error(), "SNP_SHUTDOWN_EX");
  // The IOMMU and x86 flags select what else shuts down; the model has no IOMMU.
  return snp_shutdown(buf);
}

Status Firmware::snp_platform_status(Hpa buf) {
  std::array<uint8_t, CmdAddr::kSize> raw{};
  if (!read_host(buf, raw, "SNP_PLATFORM_STATUS buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_addr(raw);
  if (!cmd) return fail(cmd.error(), "SNP_PLATFORM_STATUS");
  const Hpa out = cmd->address;
  // [L sev-dev.c: "Firmware expects status page to be in firmware-owned state, otherwise it will
  // report firmware error code INVALID_PAGE_STATE"].
  if ((out.value & kPageOffsetMask) != 0 || !mem_->contains(out, kPageSize) ||
      !rmp_->covers(pfn_of(out), 1)) {
    return fail(Status::kInvalidAddress,
                "SNP_PLATFORM_STATUS: status page " + hex(out.value) + " is not usable");
  }
  const rmp::RmpEntry e = rmp_->entry(pfn_of(out));
  work_.rmp_reads++;
  if (!detail::is_firmware(e)) {
    return fail(Status::kInvalidPageState,
                "SNP_PLATFORM_STATUS: status page is " + e.to_string() + ", not a firmware page");
  }
  PlatformStatusPage s;
  s.api_major = config_.api_major;
  s.api_minor = config_.api_minor;
  s.state = static_cast<uint8_t>(state_);
  s.is_rmp_initialized = state_ == PlatformState::kInit ? 1 : 0;
  s.build_id = config_.build_id;
  s.flags = (config_.mask_chip_id ? 1u : 0u) | (rapl_dis_ ? 1u << 4 : 0u) |
            (ciphertext_hiding_en_ ? 1u << 6 : 0u);
  s.guest_count = static_cast<uint32_t>(guests_.size());
  s.current_tcb_version = config_.current_tcb;
  s.reported_tcb_version = config_.reported_tcb;
  std::array<uint8_t, kPageSize> page{};
  std::memcpy(page.data(), &s, sizeof s);
  (void)mem_->write(out, page);
  work_.pages_written++;
  return Status::kSuccess;
}

Status Firmware::snp_df_flush(Hpa) {
  if (Status s = require_init(); s != Status::kSuccess) return s;
  // PLATFORM-FACTS 8.9 WBINVD_REQUIRED; 8.10 / Linux order: WBINVD on all CPUs, then DF_FLUSH.
  // UNCONFIRMED: that the firmware itself enforces the WBINVD (option df_flush_needs_wbinvd).
  if (config_.df_flush_needs_wbinvd && !wbinvd_done_) {
    return fail(Status::kWbinvdRequired, "SNP_DF_FLUSH: WBINVD was not executed on every core");
  }
  asids_need_flush_.clear();
  wbinvd_done_ = false;
  return Status::kSuccess;
}

}  // namespace snpemu::fw
