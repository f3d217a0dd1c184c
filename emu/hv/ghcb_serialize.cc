// emu/hv/ghcb_serialize.cc: serialize() of the per-vCPU SEV-ES state (STYLE rule 10): the
// registered GHCB, the AP reset hold, and an in-flight GHCB mapping with its scratch copy and
// PSC scan, so a snapshot taken during a VMM round trip resumes it exactly.
#include <algorithm>
#include <array>
#include <cstring>

#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {

void serialize_sev_es(Serializer& s, SevEsVcpu& es) {
  s.io("sev_es.registered_gpa", es.registered_gpa);
  s.io("sev_es.hold", es.hold);
  s.io("sev_es.mp_state", es.mp_state);
  s.io("sev_es.received_first_sipi", es.received_first_sipi);
  s.io("sev_es.cr0", es.cr0);
  s.io("sev_es.cr4", es.cr4);
  s.io("sev_es.cr8", es.cr8);
  s.io("sev_es.efer", es.efer);
  s.io("sev_es.mapped", es.mapped);
  s.io("sev_es.ghcb_gpa", es.ghcb_gpa);
  std::array<uint8_t, ghcb::kGhcbPageSize> page{};
  if (s.writing()) std::memcpy(page.data(), &es.snapshot.page(), page.size());
  s.io_bytes("sev_es.snapshot", page);
  if (s.reading()) {
    es.snapshot = ghcb::GhcbSnapshot::take(
        std::span<const std::byte, ghcb::kGhcbPageSize>(reinterpret_cast<const std::byte*>(page.data()),
                                                        page.size()));
  }
  s.io("sev_es.has_exit_info", es.has_exit_info);
  s.io("sev_es.sw_exit_info_1", es.sw_exit_info_1);
  s.io("sev_es.sw_exit_info_2", es.sw_exit_info_2);
  s.io("sev_es.scratch", es.scratch, ghcb::kScratchAreaLimit);
  s.io("sev_es.scratch_gpa", es.scratch_gpa);
  s.io("sev_es.scratch_sync", es.scratch_sync);
  s.io("sev_es.mmio_gpa", es.mmio_gpa);
  s.io("sev_es.progress", es.progress);
  s.io("sev_es.pending", es.pending);
  s.io("sev_es.port", es.port);
  s.io("sev_es.io_size", es.io_size);
  ghcb::PscScan& p = es.psc;
  s.io("sev_es.psc.cur_entry", p.desc.hdr.cur_entry);
  s.io("sev_es.psc.end_entry", p.desc.hdr.end_entry);
  s.io("sev_es.psc.reserved", p.desc.hdr.reserved);
  for (uint64_t& e : p.desc.entries) s.io("sev_es.psc.entries", e);
  s.io("sev_es.psc.entries_present", p.desc.entries_present);
  s.io("sev_es.psc.inflight_idx", p.inflight_idx);
  s.io("sev_es.psc.inflight_count", p.inflight_count);
  s.io("sev_es.psc.inflight_2m", p.inflight_2m);
  s.io("sev_es.snp_vmsa_gpa", es.snp_vmsa_gpa);
  s.io("sev_es.snp_ap_waiting_for_reset", es.snp_ap_waiting_for_reset);
  s.io("sev_es.update_protected_state", es.update_protected_state);
  if (!s.reading() || !s.ok()) return;
  if (static_cast<uint8_t>(es.hold) > static_cast<uint8_t>(ApResetHoldType::kMsrProtocol)) {
    s.fail("sev_es.hold", "unknown AP reset hold type");
  } else if (es.mp_state != MpState::kRunnable && es.mp_state != MpState::kApResetHold &&
             es.mp_state != MpState::kUninitialized && es.mp_state != MpState::kHalted) {
    s.fail("sev_es.mp_state", "unknown MP state");
  } else if (es.io_size != 0 && es.io_size != 1 && es.io_size != 2 && es.io_size != 4) {
    s.fail("sev_es.io_size", "PIO size " + std::to_string(es.io_size) + " is not 1, 2 or 4");
  } else if (es.mapped && (uint64_t{es.progress} + es.pending) *
                                 std::max<uint64_t>(es.io_size, 1) > es.scratch.size()) {
    s.fail("sev_es.progress", "progress beyond the scratch area");
  } else if (p.desc.entries_present > ghcb::kPscMaxEntries ||
             uint64_t{p.inflight_idx} + p.inflight_count > ghcb::kPscMaxEntries) {
    s.fail("sev_es.psc.entries_present", "PSC bookkeeping beyond 253 entries");
  }
}

}  // namespace snpemu::hv::internal
