// ghcb/psc.cc: Page State Change descriptor copy and KVM's resumable scan/coalesce algorithm.
// PLATFORM-FACTS 3.1-3.3 [L] asm/sev-common.h (psc_hdr, psc_entry), arch/x86/kvm/svm/sev.c
// snp_begin_psc, __snp_complete_one_psc, snp_complete_one_psc, snp_complete_psc.
// Unlike KVM, which re-reads the guest-writable buffer between ranges, every step here acts on
// the one copy taken by parse_psc_desc (STYLE rule 12); the copy is written back at the end.
#include <algorithm>
#include <cstring>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

constexpr uint64_t kGfnMask = (uint64_t{1} << 40) - 1;

PscStep finish(PscScan& scan, PscStatus status) {
  // snp_complete_psc: reset the in-flight bookkeeping, answer EXITINFO2 = status.
  scan.inflight_idx = 0;
  scan.inflight_count = 0;
  scan.inflight_2m = false;
  return PscStep{std::nullopt, status};
}

void complete_inflight(PscScan& scan) {
  // __snp_complete_one_psc: each in-flight entry is done (cur_page = 512 or 1), cur_entry moves
  // past them.
  uint16_t idx = scan.inflight_idx;
  for (; scan.inflight_count != 0; --scan.inflight_count, ++idx) {
    PscEntry e = scan.desc.entry(idx);
    e.cur_page = e.pagesize ? 512 : 1;
    scan.desc.entries[idx] = e.encode();
  }
  scan.desc.hdr.cur_entry = idx;
}

bool present(const PscScan& scan, unsigned idx) { return idx < scan.desc.entries_present; }

}  // namespace

PscEntry PscEntry::decode(uint64_t raw) {
  return PscEntry{static_cast<uint16_t>(raw & 0xFFF), (raw >> 12) & kGfnMask,
                  static_cast<uint8_t>((raw >> 52) & 0xF), ((raw >> 56) & 1) != 0,
                  static_cast<uint8_t>(raw >> 57)};
}

uint64_t PscEntry::encode() const {
  return (uint64_t{cur_page} & 0xFFF) | ((gfn & kGfnMask) << 12) |
         ((uint64_t{operation} & 0xF) << 52) | (uint64_t{pagesize} << 56) |
         ((uint64_t{reserved} & 0x7F) << 57);
}

std::expected<PscDesc, GhcbError> parse_psc_desc(std::span<const std::byte> bytes) {
  if (bytes.size() < kPscHeaderSize) {
    // UNCONFIRMED: KVM has no length check (it reads the header in place); a buffer too short
    // to hold the header is answered as an invalid header here.
    return std::unexpected(psc_error(PscStatus::kInvalidHeader, "PSC buffer shorter than header"));
  }
  PscDesc d;
  std::memcpy(&d.hdr.cur_entry, bytes.data() + 0, 2);
  std::memcpy(&d.hdr.end_entry, bytes.data() + 2, 2);
  std::memcpy(&d.hdr.reserved, bytes.data() + 4, 4);
  // idx_end >= VMGEXIT_PSC_MAX_COUNT -> invalid header [L]; reserved is not checked [L].
  if (d.hdr.end_entry >= kPscMaxEntries) {
    return std::unexpected(psc_error(PscStatus::kInvalidHeader, "end_entry >= 253"));
  }
  const size_t n = std::min((bytes.size() - kPscHeaderSize) / kPscEntrySize, kPscMaxEntries);
  std::memcpy(d.entries.data(), bytes.data() + kPscHeaderSize, n * kPscEntrySize);
  d.entries_present = static_cast<uint16_t>(n);
  return d;
}

PscScan psc_scan_begin(const PscDesc& desc) { return PscScan{desc, 0, 0, false}; }

PscStep psc_scan_next(PscScan& scan) {
  for (;;) {  // KVM's `next_range` label
    if (scan.inflight_count != 0) return finish(scan, PscStatus::kGenericError);  // WARN_ON_ONCE
    PscHeader& hdr = scan.desc.hdr;
    const uint16_t idx_start = hdr.cur_entry;
    const uint16_t idx_end = hdr.end_entry;
    if (idx_end >= kPscMaxEntries) return finish(scan, PscStatus::kInvalidHeader);

    // Step 3: find the start of the next range, counting cur_entry up past finished entries.
    unsigned idx = idx_start;
    PscEntry start{};
    uint64_t gfn = 0;
    uint64_t npages = 0;
    bool huge = false;
    for (; idx <= idx_end; ++idx, ++hdr.cur_entry) {
      if (!present(scan, idx)) {
        // UNCONFIRMED: KVM reads past its buffer here; the entry is not in the copy, so it is
        // answered as an invalid entry.
        return finish(scan, PscStatus::kInvalidEntry);
      }
      start = scan.desc.entry(idx);
      gfn = start.gfn;
      huge = start.pagesize;
      npages = huge ? 512 : 1;
      if (start.cur_page > npages || gfn % npages != 0) {
        return finish(scan, PscStatus::kInvalidEntry);
      }
      if (start.cur_page != 0) {
        // A partly done 2M entry continues as 4K pages [L].
        npages -= start.cur_page;
        gfn += start.cur_page;
        huge = false;
      }
      if (npages != 0) break;
    }
    if (idx > idx_end) return finish(scan, PscStatus::kSuccess);  // step 4

    scan.inflight_2m = huge;
    scan.inflight_idx = static_cast<uint16_t>(idx);
    scan.inflight_count = 1;

    // Step 5: coalesce. KVM compares against the first entry's *unadjusted* GFN plus the
    // adjusted page count, exactly as written here [L]. UNCONFIRMED: the sum is taken in 64 bits
    // (no wrap at the 40-bit field width); it only matters for GFNs within 512 of 2^40.
    while (++idx <= idx_end) {
      if (!present(scan, idx)) break;
      const PscEntry e = scan.desc.entry(idx);
      if (e.operation != start.operation || e.gfn != start.gfn + npages || e.cur_page != 0 ||
          e.pagesize != huge) {
        break;
      }
      ++scan.inflight_count;
      npages += huge ? 512 : 1;
    }

    // Step 6: operations 1 and 2 go to the VMM; the size flag follows the first entry's
    // pagesize bit even when it was downgraded to 4K (KVM quirk) [L].
    if (start.operation == static_cast<uint8_t>(PscOperation::kPrivate) ||
        start.operation == static_cast<uint8_t>(PscOperation::kShared)) {
      PscBatch b;
      b.to_private = start.operation == static_cast<uint8_t>(PscOperation::kPrivate);
      b.page_size_2m = start.pagesize;
      b.gpa = gfn << 12;
      b.npages = npages;
      b.attributes = (b.to_private ? kMapGpaRangeEncrypted : 0) |
                     (b.page_size_2m ? kMapGpaRangePageSz2M : 0);
      b.first_entry = scan.inflight_idx;
      b.entry_count = scan.inflight_count;
      return PscStep{b, PscStatus::kSuccess};
    }
    // Step 7: any other operation completes silently and scanning continues.
    complete_inflight(scan);
  }
}

PscStep psc_scan_complete(PscScan& scan, uint64_t hypercall_ret) {
  if (hypercall_ret != 0) return finish(scan, PscStatus::kGenericError);
  complete_inflight(scan);
  return psc_scan_next(scan);
}

size_t psc_write_back(const PscDesc& desc, std::span<std::byte> dst) {
  std::array<std::byte, kPscMaxBytes> buf{};
  std::memcpy(buf.data() + 0, &desc.hdr.cur_entry, 2);
  std::memcpy(buf.data() + 2, &desc.hdr.end_entry, 2);
  std::memcpy(buf.data() + 4, &desc.hdr.reserved, 4);
  std::memcpy(buf.data() + kPscHeaderSize, desc.entries.data(),
              size_t{desc.entries_present} * kPscEntrySize);
  const size_t n =
      std::min(dst.size(), kPscHeaderSize + size_t{desc.entries_present} * kPscEntrySize);
  std::memcpy(dst.data(), buf.data(), n);
  return n;
}

}  // namespace snpemu::ghcb
