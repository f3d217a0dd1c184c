// rmp/table.cc: locating the RMP in emulated memory (contiguous and segmented layouts).
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "rmp/rmp.h"

namespace snpemu::rmp {
namespace {

constexpr uint64_t kAddrMask = ((uint64_t{1} << 52) - 1) & ~uint64_t{0x1FFF};  // bits 51:13 [L]
constexpr uint64_t kRstBaseMask = ((uint64_t{1} << 52) - 1) & ~((uint64_t{1} << 20) - 1);  // 51:20
constexpr uint64_t kRstSizeMask = (uint64_t{1} << 20) - 1;  // bits 19:0, GiB [L]
constexpr unsigned kMinEmulatorShift = 21;  // a segment must hold whole 2 MiB regions

RmpConfigError error(RmpConfigError::Kind k, uint64_t value, uint64_t limit = 0) {
  return RmpConfigError{k, value, limit};
}

}  // namespace

std::string RmpConfigError::message() const {
  char buf[200];
  switch (kind) {
    case Kind::kSnpDisabled:
      std::snprintf(buf, sizeof buf, "SYSCFG 0x%" PRIx64 " has SNP_EN (bit 24) clear", value);
      break;
    case Kind::kNotReserved:
      std::snprintf(buf, sizeof buf, "RMP_BASE/RMP_END bits 51:13 are zero: no RMP reserved");
      break;
    case Kind::kBaseMisaligned:
      std::snprintf(buf, sizeof buf, "RMP_BASE 0x%" PRIx64 " is not 8 KiB aligned", value);
      break;
    case Kind::kEndBeforeBase:
      std::snprintf(buf, sizeof buf, "RMP_END 0x%" PRIx64 " is below RMP_BASE 0x%" PRIx64, value,
                    limit);
      break;
    case Kind::kOutsideMemory:
      std::snprintf(buf, sizeof buf,
                    "RMP structure ending at 0x%" PRIx64 " lies outside RAM of 0x%" PRIx64
                    " bytes",
                    value, limit);
      break;
    case Kind::kTooSmall:
      std::snprintf(buf, sizeof buf,
                    "contiguous RMP of 0x%" PRIx64 " bytes is smaller than the 0x%" PRIx64
                    " needed to cover RAM",
                    value, limit);
      break;
    case Kind::kSegmentShiftRange:
      std::snprintf(buf, sizeof buf,
                    "RMP_CFG segment shift %" PRIu64 " outside the allowed range (CPUID "
                    "0x8000_0025 EAX 0x%" PRIx64 ", minimum 21)",
                    value, limit);
      break;
    case Kind::kSegmentOverlap:
      std::snprintf(buf, sizeof buf,
                    "RST entry %" PRIu64 ": segment table at 0x%" PRIx64
                    " overlaps another RMP structure",
                    limit, value);
      break;
  }
  return buf;
}

std::expected<Rmp, RmpConfigError> Rmp::create(Memory& mem, const RmpMsrs& msrs,
                                               SegmentedRmpCpuid cpuid) {
  using Kind = RmpConfigError::Kind;
  if ((msrs.syscfg & kSyscfgSnpEn) == 0) return std::unexpected(error(Kind::kSnpDisabled, msrs.syscfg));
  const bool segmented = (msrs.rmp_cfg & kRmpCfgSegmented) != 0;
  // PLATFORM-FACTS 4.1 [L]: both zero in bits 51:13 = BIOS reserved no RMP. Segmented: RMP_END
  // should be 0 (Linux only warns), so only RMP_BASE is tested there.
  if ((msrs.rmp_base & kAddrMask) == 0 && (segmented || (msrs.rmp_end & kAddrMask) == 0)) {
    return std::unexpected(error(Kind::kNotReserved, msrs.rmp_base));
  }
  // UNCONFIRMED: hardware may ignore bits 12:0; a misaligned base is rejected to catch bugs.
  if ((msrs.rmp_base & ~kAddrMask) != 0) {
    return std::unexpected(error(Kind::kBaseMisaligned, msrs.rmp_base));
  }
  Rmp rmp(mem);
  const uint64_t pages = mem.size() >> kPageShift;
  if (!segmented) {
    if (msrs.rmp_end < msrs.rmp_base) {
      return std::unexpected(error(Kind::kEndBeforeBase, msrs.rmp_end, msrs.rmp_base));
    }
    if (msrs.rmp_end >= mem.size()) {
      return std::unexpected(error(Kind::kOutsideMemory, msrs.rmp_end, mem.size()));
    }
    // PLATFORM-FACTS 4.1 [L]: size >= (max_pfn << 4) + 0x4000; max_pfn covers all of RAM.
    const uint64_t size = msrs.rmp_end - msrs.rmp_base + 1;
    const uint64_t need = kRmpBookkeepingSize + pages * kRmpEntrySize;
    if (size < need) return std::unexpected(error(Kind::kTooSmall, size, need));
    rmp.entries_base_ = msrs.rmp_base + kRmpBookkeepingSize;
    rmp.covered_pages_ = pages;
    rmp.back_tables();
    rmp.rmp_pages_.push_back({msrs.rmp_base >> kPageShift, (msrs.rmp_end >> kPageShift) + 1});
    return rmp;
  }
  // Segmented. PLATFORM-FACTS 0 / 4.1 [L].
  rmp.segmented_ = true;
  const unsigned shift = static_cast<unsigned>((msrs.rmp_cfg >> 8) & 0x3F);
  const unsigned min_shift = cpuid.eax & 0x3F;
  const unsigned max_shift = (cpuid.eax >> 6) & 0x3F;
  if (shift < min_shift || shift > max_shift || shift < kMinEmulatorShift) {
    return std::unexpected(error(Kind::kSegmentShiftRange, shift, cpuid.eax));
  }
  const uint64_t rst_entries =
      (cpuid.ebx & (1u << 10)) != 0 ? std::min<uint64_t>(cpuid.ebx & 0x3FF, kRstMaxEntries)
                                    : kRstMaxEntries;
  const uint64_t rst = msrs.rmp_base + kRmpBookkeepingSize;
  const uint64_t header_end = rst + kRstMaxEntries * 8;
  if (header_end > mem.size()) {
    return std::unexpected(error(Kind::kOutsideMemory, header_end - 1, mem.size()));
  }
  rmp.segment_page_shift_ = shift - kPageShift;
  rmp.rmp_pages_.push_back({msrs.rmp_base >> kPageShift, header_end >> kPageShift});
  const uint64_t coverage_pages = uint64_t{1} << rmp.segment_page_shift_;
  for (uint64_t i = 0; i < rst_entries; ++i) {
    const uint64_t value = *mem.read64(Hpa{rst + i * 8});  // in range: checked above
    const uint64_t gib = value & kRstSizeMask;
    if (gib == 0) continue;  // unused segment
    const uint64_t first_pfn = i << rmp.segment_page_shift_;
    if (first_pfn >= pages) continue;  // covers no RAM
    // Mapped size is capped to the coverage size [L], and here to RAM as well.
    uint64_t entries = std::min<uint64_t>(std::min<uint64_t>(gib, uint64_t{1} << 22) << 18,
                                          coverage_pages);
    entries = std::min(entries, pages - first_pfn);
    const uint64_t table = value & kRstBaseMask;
    const uint64_t table_end = table + entries * kRmpEntrySize;
    if (table_end > mem.size()) {
      return std::unexpected(error(Kind::kOutsideMemory, table_end - 1, mem.size()));
    }
    const PfnRange range{table >> kPageShift, (table_end + kPageOffsetMask) >> kPageShift};
    for (const PfnRange& r : rmp.rmp_pages_) {
      if (range.first < r.end && r.first < range.end) {
        return std::unexpected(error(Kind::kSegmentOverlap, table, i));
      }
    }
    rmp.rmp_pages_.push_back(range);
    if (rmp.segments_.size() <= i) rmp.segments_.resize(i + 1);
    rmp.segments_[i] = Segment{table, entries};
  }
  rmp.segment_page_mask_ = coverage_pages - 1;
  rmp.segment_count_ = rmp.segments_.size();
  rmp.back_tables();
  return rmp;
}

const uint8_t* Rmp::entry_pointer_outside_window(Pfn pfn) const {
  if (segmented_) {
    const uint64_t n = pfn.value >> segment_page_shift_;
    if (n < fast_segments_.size() && pfn.value < fast_segments_[n].end_pfn) {
      return reinterpret_cast<const uint8_t*>(fast_segments_[n].bias + (pfn.value << 4));
    }
  }
  // Constant, not state: what an entry on a table page that was never written reads as.
  alignas(16) static constexpr uint8_t kUnassigned[kRmpEntrySize] = {};
  const std::optional<Hpa> at = entry_address(pfn);
  if (!at) return nullptr;
  const uint8_t* page = mem_->page_pointer_if_present(pfn_of(*at));
  if (page == nullptr) return kUnassigned;
  return page + (at->value & kPageOffsetMask);
}

void Rmp::back_tables() {
  // Tables are page aligned; each is backed rounded out to whole pages. A table Memory refuses
  // (e.g. a table page written before create()) is read through Memory's pages, exactly but
  // slower; the first refusal is kept in backing_error_.
  const auto bytes_of = [](uint64_t entries) {
    return (entries * kRmpEntrySize + kPageOffsetMask) & ~kPageOffsetMask;
  };
  if (!segmented_) {
    auto host = mem_->back_contiguous(Hpa{entries_base_}, bytes_of(covered_pages_));
    if (!host) {
      backing_error_ = host.error();
      return;
    }
    window_ = FastTable{reinterpret_cast<uintptr_t>(*host), covered_pages_};
    return;
  }
  // The window: segments 0, 1, ... while each is used and the previous ones are full (so PFNs
  // [0, end) are all covered), segment i's table at window offset first_pfn(i) * 16.
  const uint64_t coverage = uint64_t{1} << segment_page_shift_;
  std::vector<Memory::WindowPart> parts;
  uint64_t window_end = 0;
  for (uint64_t i = 0; i < segments_.size() && segments_[i].entries != 0; ++i) {
    const uint64_t first = i << segment_page_shift_;
    parts.push_back({Hpa{segments_[i].table}, bytes_of(segments_[i].entries), first << 4});
    window_end = first + segments_[i].entries;
    if (segments_[i].entries != coverage) break;
  }
  fast_segments_.assign(segments_.size(), FastTable{});
  uint64_t windowed = 0;
  if (!parts.empty()) {
    if (auto window = mem_->back_window(parts)) {
      window_ = FastTable{reinterpret_cast<uintptr_t>(*window), window_end};
      windowed = parts.size();
      for (uint64_t i = 0; i < windowed; ++i) {
        const uint64_t first = i << segment_page_shift_;
        fast_segments_[i] = FastTable{window_.bias, first + segments_[i].entries};
      }
    }
  }
  // The rest (and, if the window was refused, all): one reservation per table.
  for (uint64_t i = windowed; i < segments_.size(); ++i) {
    const Segment& seg = segments_[i];
    if (seg.entries == 0) continue;
    auto host = mem_->back_contiguous(Hpa{seg.table}, bytes_of(seg.entries));
    if (!host) {
      if (!backing_error_) backing_error_ = host.error();
      continue;
    }
    const uint64_t first = i << segment_page_shift_;
    fast_segments_[i] = FastTable{reinterpret_cast<uintptr_t>(*host) - (first << 4),
                                  first + seg.entries};
  }
}

bool Rmp::covers(Pfn pfn, uint64_t count) const {
  if (count == 0) return true;
  if (!segmented_) return pfn.value < covered_pages_ && count <= covered_pages_ - pfn.value;
  // Segments are at least 2 MiB and whole 2 MiB multiples of entries are not guaranteed at a
  // segment end, so test both ends and every segment boundary crossed.
  for (uint64_t p = pfn.value; p < pfn.value + count;) {
    if (!entry_address(Pfn{p})) return false;
    const uint64_t next = ((p >> segment_page_shift_) + 1) << segment_page_shift_;
    const uint64_t last = std::min(pfn.value + count, next) - 1;
    if (!entry_address(Pfn{last})) return false;
    p = next;
  }
  return true;
}

void Rmp::store(Pfn pfn, const RmpEntry& e) {
  const std::optional<Hpa> at = entry_address(pfn);
  if (!at) return;
  const RawRmpEntry r = encode(e);
  if (r == RawRmpEntry{} && mem_->page_pointer_if_present(pfn_of(*at)) == nullptr) return;
  std::memcpy(mem_->page_pointer(pfn_of(*at)) + (at->value & kPageOffsetMask), &r, sizeof r);
}

void Rmp::serialize(Serializer& s) {
  // Entries live in Memory (serialized there); the layout comes from the MSRs, so only its
  // fingerprint is recorded and checked. The VMSA in-use set is the Rmp's own state.
  uint8_t segmented = segmented_ ? 1 : 0;
  uint64_t layout_a = segmented_ ? segment_page_shift_ : entries_base_;
  uint64_t layout_b = segmented_ ? segment_count_ : covered_pages_;
  const uint8_t want_segmented = segmented;
  const uint64_t want_a = layout_a, want_b = layout_b;
  s.io("rmp.segmented", segmented);
  s.io("rmp.layout_a", layout_a);
  s.io("rmp.layout_b", layout_b);
  if (s.reading() && s.ok() &&
      (segmented != want_segmented || layout_a != want_a || layout_b != want_b)) {
    s.fail("rmp.layout", "snapshot RMP layout differs from the one the MSRs describe");
    return;
  }
  uint64_t n = in_use_.size();
  s.io("rmp.vmsa_in_use.count", n);
  if (s.reading()) {
    if (!s.ok()) return;
    if (n > s.remaining() / 8) {
      s.fail("rmp.vmsa_in_use.count", std::to_string(n) + " entries exceed the input");
      return;
    }
    in_use_.assign(n, 0);
  }
  for (uint64_t& pfn : in_use_) s.io("rmp.vmsa_in_use.pfn", pfn);
}

bool Rmp::is_rmp_page(Pfn pfn) const {
  for (const PfnRange& r : rmp_pages_) {
    if (pfn.value >= r.first && pfn.value < r.end) return true;
  }
  return false;
}

bool Rmp::region_has_rmp_page(Pfn pfn) const {
  const uint64_t first = pfn.value & ~uint64_t{511};
  for (const PfnRange& r : rmp_pages_) {
    if (first < r.end && r.first < first + 512) return true;
  }
  return false;
}

void Rmp::set_vmsa_in_use(Pfn pfn, bool in_use) {
  auto it = std::find(in_use_.begin(), in_use_.end(), pfn.value);
  if (in_use && it == in_use_.end()) in_use_.push_back(pfn.value);
  if (!in_use && it != in_use_.end()) in_use_.erase(it);
}

bool Rmp::vmsa_in_use(Pfn pfn) const { return any_in_use(pfn, 1); }

bool Rmp::any_in_use(Pfn pfn, uint64_t count) const {
  for (uint64_t p : in_use_) {
    if (p >= pfn.value && p - pfn.value < count) return true;
  }
  return false;
}

}  // namespace snpemu::rmp
