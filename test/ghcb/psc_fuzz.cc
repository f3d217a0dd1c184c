// libFuzzer entry point for the PSC descriptor parser and KVM's scan (ghcb/psc.cc).
// Input: byte 0 = bitmask of VMM answers (bit i set -> the i-th exit fails, cycling); the rest
// is the descriptor as the guest wrote it. Any broken invariant traps (a crash for the fuzzer).
// Pure function file: no main; the lead wires the fuzz build rules.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ghcb/ghcb.h"

namespace {

using namespace snpemu::ghcb;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

uint64_t entry_pages(const PscEntry& e) { return e.pagesize ? 512 : 1; }

// Runs one PSC event to completion; returns the final status. Checks per-batch invariants.
PscStatus run(PscScan& scan, uint8_t fail_mask, bool allow_fail) {
  const uint16_t end = scan.desc.hdr.end_entry;
  PscStep st = psc_scan_next(scan);
  unsigned exits = 0;
  uint16_t last_cur = scan.desc.hdr.cur_entry;
  while (!st.done()) {
    const PscBatch& b = *st.batch;
    check(++exits <= kPscMaxEntries);  // each exit consumes at least one entry
    check(b.entry_count >= 1 && b.first_entry + b.entry_count - 1u <= end);
    check(b.first_entry + b.entry_count <= scan.desc.entries_present);
    check(b.first_entry == scan.desc.hdr.cur_entry);
    check(b.npages >= 1 && b.npages <= 512u * b.entry_count);
    check((b.gpa & 0xFFF) == 0);
    check((b.attributes & ~(kMapGpaRangeEncrypted | kMapGpaRangePageSz2M)) == 0);
    check(b.to_private == ((b.attributes & kMapGpaRangeEncrypted) != 0));
    const bool fail = allow_fail && ((fail_mask >> (exits % 8)) & 1);
    st = psc_scan_complete(scan, fail ? 1 : 0);
    check(scan.desc.hdr.cur_entry >= last_cur);  // progress never goes backwards
    last_cur = scan.desc.hdr.cur_entry;
  }
  check(scan.inflight_count == 0);
  return st.status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t fail_mask = data[0];
  const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(data + 1), size - 1};

  auto parsed = parse_psc_desc(bytes);
  if (!parsed) {
    check(parsed.error().kind == GhcbErrorKind::kPscStatus);
    check(parsed.error().code == static_cast<uint64_t>(PscStatus::kInvalidHeader));
    return 0;
  }
  check(parsed->hdr.end_entry < kPscMaxEntries);
  check(parsed->entries_present <= kPscMaxEntries);

  PscScan scan = psc_scan_begin(*parsed);
  const uint16_t start = scan.desc.hdr.cur_entry;
  const PscStatus status = run(scan, fail_mask, true);
  check(status == PscStatus::kSuccess || status == PscStatus::kGenericError ||
        status == PscStatus::kInvalidEntry);
  if (status == PscStatus::kSuccess) {
    // Every entry in range is finished.
    for (unsigned i = start; i <= scan.desc.hdr.end_entry; ++i) {
      const PscEntry e = scan.desc.entry(i);
      check(e.cur_page == entry_pages(e));
    }
  }

  // Write-back round trip: the bytes re-parse to the same copy.
  std::vector<std::byte> out(bytes.size());
  const size_t n = psc_write_back(scan.desc, out);
  check(n <= out.size());
  auto again = parse_psc_desc(std::span<const std::byte>(out.data(), n));
  check(again.has_value());
  check(again->hdr == scan.desc.hdr);
  for (unsigned i = 0; i < again->entries_present; ++i) {
    check(again->entries[i] == scan.desc.entries[i]);
  }

  // Resume: the guest re-issues the written-back descriptor; without VMM failures it ends in
  // success or an invalid entry, never a generic error.
  PscScan resumed = psc_scan_begin(*again);
  const PscStatus second = run(resumed, 0, false);
  check(second == PscStatus::kSuccess || second == PscStatus::kInvalidEntry);
  if (status == PscStatus::kInvalidEntry) check(second == PscStatus::kInvalidEntry);
  return 0;
}
