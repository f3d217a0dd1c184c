// emu/mem/contiguous.cc: one contiguous host reservation behind physical ranges.
//
// The range keeps every property of sparse RAM: the reservation is anonymous and MAP_NORESERVE,
// so the host commits a page only when it is written, and Memory hands a page of the range out
// (marks it resident) exactly as it does a page of its own. Only where the bytes live changes.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "emu/mem/memory.h"

namespace snpemu {

std::string BackingError::message() const {
  char head[96];
  std::snprintf(head, sizeof head, "cannot back [0x%" PRIx64 ", +0x%" PRIx64 ") contiguously: ",
                pa.value, length);
  char tail[160];
  switch (kind) {
    case Kind::kOutOfRange:
      std::snprintf(tail, sizeof tail, "outside RAM of 0x%" PRIx64 " bytes", detail);
      break;
    case Kind::kMisaligned:
      std::snprintf(tail, sizeof tail, "address and length must be non-zero multiples of 4096");
      break;
    case Kind::kOverlap:
      std::snprintf(tail, sizeof tail,
                    "straddles the contiguous range starting at 0x%" PRIx64, detail);
      break;
    case Kind::kResident:
      std::snprintf(tail, sizeof tail, "page 0x%" PRIx64 " is already allocated elsewhere",
                    detail);
      break;
    case Kind::kHostMapFailed:
      std::snprintf(tail, sizeof tail, "host mmap failed: %s (errno %" PRIu64 ")",
                    std::strerror(static_cast<int>(detail)), detail);
      break;
  }
  return std::string(head) + tail;
}

const Memory::ContiguousRange* Memory::contiguous_range_of(uint64_t pfn) const {
  // Last range starting at or below pfn.
  auto it = std::upper_bound(contiguous_.begin(), contiguous_.end(), pfn,
                             [](uint64_t p, const ContiguousRange& r) { return p < r.first_pfn; });
  if (it == contiguous_.begin()) return nullptr;
  --it;
  return pfn - it->first_pfn < it->pages ? &*it : nullptr;
}

const uint8_t* Memory::contiguous_pointer(Hpa pa, uint64_t length) const {
  if (!contains(pa, length)) return nullptr;
  const ContiguousRange* r = contiguous_range_of(pa.value >> kPageShift);
  if (r == nullptr) return nullptr;
  const uint64_t offset = pa.value - (r->first_pfn << kPageShift);
  if (length > (r->pages << kPageShift) - offset) return nullptr;
  return r->host + offset;
}

std::expected<const uint8_t*, BackingError> Memory::back_contiguous(Hpa pa, uint64_t length) {
  const WindowPart part{pa, length, 0};
  return back_window(std::span<const WindowPart>(&part, 1));
}

std::expected<const uint8_t*, BackingError> Memory::back_window(
    std::span<const WindowPart> parts) {
  using Kind = BackingError::Kind;
  const auto fail = [](const WindowPart& p, Kind k, uint64_t detail) {
    return std::unexpected(BackingError{k, p.pa, p.length, detail});
  };
  if (parts.empty()) return std::unexpected(BackingError{Kind::kMisaligned, Hpa{0}, 0, 0});
  uint64_t window_bytes = 0;
  for (const WindowPart& p : parts) {
    if (p.length == 0 || ((p.pa.value | p.length | p.offset) & kPageOffsetMask) != 0) {
      return fail(p, Kind::kMisaligned, 0);
    }
    if (!contains(p.pa, p.length)) return fail(p, Kind::kOutOfRange, size_);
    if (p.offset > ~uint64_t{0} - p.length) return fail(p, Kind::kMisaligned, 0);
    window_bytes = std::max(window_bytes, p.offset + p.length);
  }
  // Parts must be disjoint in RAM and in the window.
  for (size_t i = 0; i < parts.size(); ++i) {
    for (size_t j = i + 1; j < parts.size(); ++j) {
      const WindowPart& a = parts[i];
      const WindowPart& b = parts[j];
      if ((a.pa.value < b.pa.value + b.length && b.pa.value < a.pa.value + a.length) ||
          (a.offset < b.offset + b.length && b.offset < a.offset + a.length)) {
        return fail(b, Kind::kOverlap, a.pa.value);
      }
    }
  }
  // Already backed at the same relative placement: the existing window.
  if (const uint8_t* first = contiguous_pointer(parts[0].pa, parts[0].length)) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(first) - parts[0].offset;
    bool same = true;
    for (const WindowPart& p : parts) {
      const uint8_t* at = contiguous_pointer(p.pa, p.length);
      same = same && at != nullptr && reinterpret_cast<uintptr_t>(at) == base + p.offset;
    }
    if (same) return reinterpret_cast<const uint8_t*>(base);
  }
  for (const WindowPart& p : parts) {
    const uint64_t first = p.pa.value >> kPageShift;
    const uint64_t end = first + (p.length >> kPageShift);
    for (const ContiguousRange& r : contiguous_) {
      if (first < r.first_pfn + r.pages && r.first_pfn < end) {
        return fail(p, Kind::kOverlap, r.first_pfn << kPageShift);
      }
    }
    // A page already resident has its bytes on the heap and may have been handed out by
    // page_pointer() (valid for Memory's lifetime): it cannot move, so the range is refused.
    for (uint64_t c = first >> kChunkShift; c <= (end - 1) >> kChunkShift; ++c) {
      if (!directory_[c]) continue;
      const uint64_t lo = std::max(first, c << kChunkShift);
      const uint64_t hi = std::min(end, (c + 1) << kChunkShift);
      for (uint64_t pfn = lo; pfn < hi; ++pfn) {
        if (directory_[c][pfn & kChunkMask] != nullptr) return fail(p, Kind::kResident, pfn);
      }
    }
  }
  // Nothing can fail once the mapping exists.
  contiguous_.reserve(contiguous_.size() + parts.size());
  reservations_.reserve(reservations_.size() + 1);
  void* host = ::mmap(nullptr, window_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (host == MAP_FAILED) {
    return std::unexpected(BackingError{Kind::kHostMapFailed, parts[0].pa, window_bytes,
                                        static_cast<uint64_t>(errno)});
  }
  uint8_t* const window = static_cast<uint8_t*>(host);
  reservations_.push_back(Reservation{window, window_bytes});
  for (const WindowPart& p : parts) {
    const ContiguousRange range{p.pa.value >> kPageShift, p.length >> kPageShift,
                                window + p.offset};
    contiguous_.insert(std::upper_bound(contiguous_.begin(), contiguous_.end(), range.first_pfn,
                                        [](uint64_t pfn, const ContiguousRange& r) {
                                          return pfn < r.first_pfn;
                                        }),
                       range);
  }
  return window;
}

void Memory::release_contiguous() {
  for (const Reservation& r : reservations_) ::munmap(r.host, r.bytes);
  reservations_.clear();
  contiguous_.clear();
}

}  // namespace snpemu
