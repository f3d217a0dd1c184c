// firmware/pages.cc: SNP_PAGE_RECLAIM and SNP_PAGE_UNSMASH. PLATFORM-FACTS 4.3, 4.4, 4.9, 8.2;
// page states in firmware.h (mailbox section).
#include <algorithm>

#include "firmware/firmware.h"
#include "firmware/mailbox_internal.h"

namespace snpemu::fw {
namespace {
constexpr uint64_t kPagesPer2M = kLargePageSize / kPageSize;
}  // namespace

Status Firmware::snp_page_reclaim(Hpa buf) {
  if (Status s = require_init(); s != Status::kSuccess) return s;
  std::array<uint8_t, CmdPageAddr::kSize> raw{};
  if (!read_host(buf, raw, "SNP_PAGE_RECLAIM buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_page_addr(raw);
  if (!cmd) return fail(cmd.error(), "SNP_PAGE_RECLAIM");
  const Pfn first = pfn_of(cmd->address);
  const uint64_t count = cmd->page_size_2m ? kPagesPer2M : 1;
  const std::string where = "SNP_PAGE_RECLAIM: page " + hex(cmd->address.value) + " ";
  if (!rmp_->covers(first, count)) return fail(Status::kInvalidAddress, where + "has no RMP entry");
  // UNCONFIRMED (PLATFORM-FACTS 11.11) which states are accepted. Chosen: immutable pages the
  // firmware no longer needs: Firmware pages (not a live Context page) and Pre-Guest pages that
  // are not part of a live guest's launch (KVM reclaims the page whose LAUNCH_UPDATE failed,
  // PLATFORM-FACTS 8.3). A mutable page needs no firmware help (RMPUPDATE can change it):
  // INVALID_PAGE_STATE. The result is the Hypervisor state, written by the firmware; Linux's
  // following RMPUPDATE "shared" then finds an unassigned page and succeeds too.
  for (uint64_t i = 0; i < count; ++i) {
    const Pfn pfn{first.value + i};
    const rmp::RmpEntry e = rmp_->entry(pfn);
    work_.rmp_reads++;
    const bool big = e.page_size == rmp::PageSize::k2M;
    if (e.assigned && big != cmd->page_size_2m) {
      return fail(Status::kInvalidPageSize, where + "size does not match its RMP entry " +
                                                e.to_string());
    }
    if (rmp_->is_rmp_page(pfn) || !e.assigned || !e.immutable || rmp_->vmsa_in_use(pfn)) {
      return fail(Status::kInvalidPageState, where + "is " + e.to_string() +
                                                 " (only immutable firmware or pre-guest pages)");
    }
    for (const GuestContextInfo& g : guests_) {
      if (pfn_of(g.gctx) == pfn) {
        return fail(Status::kInvalidPageState, where + "is the context page of a live guest");
      }
      if (e.asid.value != 0 && e.asid == g.asid &&
          std::any_of(g.launched.begin(), g.launched.end(),
                      [&](const LaunchedPage& p) { return p.pfn == pfn; })) {
        return fail(Status::kInvalidPageState, where + "was launched into live guest " +
                                                   hex(g.gctx.value));
      }
    }
  }
  for (uint64_t i = 0; i < count; ++i) {
    rmp_->store(Pfn{first.value + i}, rmp::RmpEntry{});
    work_.rmp_writes++;
  }
  return Status::kSuccess;
}

Status Firmware::snp_page_unsmash(Hpa buf) {
  if (Status s = require_init(); s != Status::kSuccess) return s;
  std::array<uint8_t, CmdPageAddr::kSize> raw{};
  if (!read_host(buf, raw, "SNP_PAGE_UNSMASH buffer")) return Status::kInvalidAddress;
  auto cmd = parse_cmd_page_addr(raw);
  if (!cmd) return fail(cmd.error(), "SNP_PAGE_UNSMASH");
  const Pfn head = pfn_of(cmd->address);
  const std::string where = "SNP_PAGE_UNSMASH: " + hex(cmd->address.value) + " ";
  // The reverse of PSMASH (PLATFORM-FACTS 4.4): 512 4K entries of one 2 MiB-aligned region with
  // identical attributes and consecutive GPAs from a 2 MiB-aligned GPA become one 2M entry.
  // UNCONFIRMED: the parameter's page-size bit must say 2M (INVALID_PAGE_SIZE otherwise).
  if (!cmd->page_size_2m) {
    return fail(Status::kInvalidPageSize, where + "page size bit must be 1 (2 MiB)");
  }
  if (!rmp_->covers(head, kPagesPer2M) || rmp_->region_has_rmp_page(head)) {
    return fail(Status::kInvalidAddress, where + "region is not a coverable 2 MiB region");
  }
  const rmp::RmpEntry h = rmp_->entry(head);
  if (!h.assigned || h.page_size != rmp::PageSize::k4K || (h.gpa.value & (kLargePageSize - 1))) {
    return fail(Status::kInvalidPageState,
                where + "head entry " + h.to_string() + " is not a 4K page at a 2M-aligned GPA");
  }
  if (rmp_->any_in_use(head, kPagesPer2M)) {
    return fail(Status::kInvalidPageState, where + "region holds a VMSA in use");
  }
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    rmp::RmpEntry want = h;
    want.gpa = Gpa{h.gpa.value + i * kPageSize};
    const rmp::RmpEntry e = rmp_->entry(Pfn{head.value + i});
    work_.rmp_reads++;
    if (e != want || e.vmsa) {
      return fail(Status::kInvalidPageState, where + "entry " + std::to_string(i) + " is " +
                                                 e.to_string() + ", expected " + want.to_string());
    }
  }
  // A page launched into a live guest, or a context page, is never part of a uniform region
  // with a 2M-aligned guest GPA except by the launch itself; refuse those too (UNCONFIRMED).
  for (const GuestContextInfo& g : guests_) {
    for (const LaunchedPage& p : g.launched) {
      if (p.pfn.value >= head.value && p.pfn.value < head.value + kPagesPer2M) {
        return fail(Status::kInvalidPageState, where + "region holds a page being launched");
      }
    }
  }
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    rmp::RmpEntry e = h;
    e.page_size = rmp::PageSize::k2M;
    e.gpa = Gpa{h.gpa.value + i * kPageSize};
    rmp_->store(Pfn{head.value + i}, e);
    work_.rmp_writes++;
  }
  return Status::kSuccess;
}

}  // namespace snpemu::fw
