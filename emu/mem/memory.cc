// emu/mem/memory.cc: sparse host-physical RAM.
#include "emu/mem/memory.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <new>

namespace snpemu {

std::string MemError::message() const {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "physical access [0x%" PRIx64 ", +%" PRIu64 ") outside RAM of 0x%" PRIx64 " bytes",
                pa.value, length, size);
  return buf;
}

std::expected<std::unique_ptr<Memory>, std::string> Memory::create(uint64_t size) {
  if (size == 0) return std::unexpected(std::string("memory size must not be zero"));
  if ((size & kPageOffsetMask) != 0) {
    return std::unexpected("memory size " + std::to_string(size) +
                           " is not a multiple of 4096 bytes");
  }
  if (size > kMaxSize) {
    return std::unexpected("memory size " + std::to_string(size) +
                           " exceeds the maximum of 256 TiB (48-bit physical addresses)");
  }
  return std::unique_ptr<Memory>(new Memory(size));
}

Memory::Memory(uint64_t size)
    : size_(size),
      page_count_(size >> kPageShift),
      directory_((page_count_ + kChunkPages - 1) >> kChunkShift) {}

Memory::~Memory() {
  for (uint64_t c = 0; c < directory_.size(); ++c) {
    if (!directory_[c]) continue;
    const uint64_t pages = std::min(kChunkPages, page_count_ - (c << kChunkShift));
    for (uint64_t i = 0; i < pages; ++i) {
      // Pages of a contiguous range belong to its reservation, unmapped in contiguous.cc.
      if (directory_[c][i] != nullptr && contiguous_range_of((c << kChunkShift) | i) == nullptr) {
        PageDeleter{}(directory_[c][i]);
      }
    }
  }
  release_contiguous();
}

void Memory::PageDeleter::operator()(uint8_t* p) const {
  if (p != nullptr) ::operator delete[](p, std::align_val_t{kPageSize});
}

uint8_t* Memory::allocate_page(Pfn pfn) {
  Chunk& chunk = directory_[pfn.value >> kChunkShift];
  if (!chunk) {
    const uint64_t pages = std::min(kChunkPages, page_count_ - (pfn.value & ~kChunkMask));
    chunk = Chunk(new uint8_t*[pages]());
  }
  uint8_t*& slot = chunk[pfn.value & kChunkMask];
  if (slot == nullptr) {
    if (const ContiguousRange* r = contiguous_range_of(pfn.value)) {
      // Its bytes are already zero: a page of a range is written only once it is resident.
      slot = r->host + ((pfn.value - r->first_pfn) << kPageShift);
    } else {
      slot = static_cast<uint8_t*>(::operator new[](kPageSize, std::align_val_t{kPageSize}));
      std::memset(slot, 0, kPageSize);
    }
    ++resident_pages_;
  }
  return slot;
}

void Memory::serialize(Serializer& s) {
  uint64_t size = size_;
  s.io("memory.size", size);
  if (s.reading() && s.ok() && size != size_) {
    s.fail("memory.size", "snapshot has " + std::to_string(size) + " bytes, this machine " +
                              std::to_string(size_));
  }
  if (s.reading() && s.ok() && resident_pages_ != 0) {
    s.fail("memory.size", "memory must be empty before a snapshot is loaded into it");
  }
  uint64_t count = resident_pages_;
  s.io("memory.resident_pages", count);
  if (!s.ok()) return;
  if (s.writing()) {
    for (uint64_t c = 0; c < directory_.size(); ++c) {
      if (!directory_[c]) continue;
      const uint64_t pages = std::min(kChunkPages, page_count_ - (c << kChunkShift));
      for (uint64_t i = 0; i < pages; ++i) {
        if (directory_[c][i] == nullptr) continue;
        uint64_t pfn = (c << kChunkShift) | i;
        s.io("memory.pfn", pfn);
        s.io_bytes("memory.page", std::span<uint8_t>(directory_[c][i], kPageSize));
      }
    }
    return;
  }
  if (count > page_count_) {
    s.fail("memory.resident_pages",
           std::to_string(count) + " pages do not fit in " + std::to_string(page_count_));
    return;
  }
  uint64_t previous = 0;
  for (uint64_t n = 0; n < count && s.ok(); ++n) {
    uint64_t pfn = 0;
    s.io("memory.pfn", pfn);
    if (!s.ok()) return;
    if (pfn >= page_count_ || (n != 0 && pfn <= previous)) {
      s.fail("memory.pfn",
             "page " + std::to_string(pfn) + " is outside memory or not in ascending order");
      return;
    }
    if (s.remaining() < kPageSize) {
      s.fail("memory.page",
             "truncated: needs 4096 bytes, " + std::to_string(s.remaining()) + " left");
      return;
    }
    s.io_bytes("memory.page", std::span<uint8_t>(page_pointer(Pfn{pfn}), kPageSize));
    previous = pfn;
  }
}

namespace {

// Calls fn(pfn, offset_in_page, done, n) for each page-sized piece of [pa, pa + length).
template <class Fn>
void for_each_piece(uint64_t pa, uint64_t length, Fn&& fn) {
  uint64_t done = 0;
  while (done < length) {
    const uint64_t addr = pa + done;
    const uint64_t offset = addr & kPageOffsetMask;
    const uint64_t n = std::min<uint64_t>(kPageSize - offset, length - done);
    fn(Pfn{addr >> kPageShift}, offset, done, n);
    done += n;
  }
}

}  // namespace

std::expected<void, MemError> Memory::read(Hpa pa, std::span<uint8_t> out) const {
  if (!contains(pa, out.size())) return std::unexpected(out_of_range(pa, out.size()));
  for_each_piece(pa.value, out.size(), [&](Pfn pfn, uint64_t offset, uint64_t done, uint64_t n) {
    const uint8_t* page = page_pointer_if_present(pfn);
    if (page == nullptr) {
      std::memset(out.data() + done, 0, n);
    } else {
      std::memcpy(out.data() + done, page + offset, n);
    }
  });
  return {};
}

std::expected<void, MemError> Memory::write(Hpa pa, std::span<const uint8_t> in) {
  if (!contains(pa, in.size())) return std::unexpected(out_of_range(pa, in.size()));
  for_each_piece(pa.value, in.size(), [&](Pfn pfn, uint64_t offset, uint64_t done, uint64_t n) {
    std::memcpy(page_pointer(pfn) + offset, in.data() + done, n);
  });
  return {};
}

std::expected<void, MemError> Memory::fill(Hpa pa, uint64_t length, uint8_t value) {
  if (!contains(pa, length)) return std::unexpected(out_of_range(pa, length));
  for_each_piece(pa.value, length, [&](Pfn pfn, uint64_t offset, uint64_t, uint64_t n) {
    // Filling an untouched page with zeros leaves it untouched: it already reads as zero.
    if (value != 0 || page_pointer_if_present(pfn) != nullptr) {
      std::memset(page_pointer(pfn) + offset, value, n);
    }
  });
  return {};
}

}  // namespace snpemu
