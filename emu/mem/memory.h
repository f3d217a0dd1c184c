// emu/mem/memory.h: host-physical RAM.
//
// Memory is the machine's physical address space: sparse and lazily allocated in 4 KiB pages,
// so untouched memory costs nothing (a read of an untouched page sees zeros and allocates
// nothing). It holds no access policy: rights are checked by the MMU and the RMP, never here.
// Out-of-range addresses are returned as MemError values, never a crash.
//
// Table of contents (grouped by the file that defines them):
//   memory.cc      MemError, Memory: creation, sparse pages, read/write/fill, serialize
//   contiguous.cc  BackingError, Memory::back_contiguous / back_window / contiguous_pointer:
//                  one host reservation behind physical ranges (the RMP's entry tables), so a
//                  client may index them with one host pointer
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/serializer.h"
#include "base/types.h"

namespace snpemu {

/// Why a memory operation failed.
struct MemError {
  enum class Kind : uint8_t {
    kOutOfRange,  // [pa, pa + length) is not wholly inside [0, size)
  };
  Kind kind = Kind::kOutOfRange;
  Hpa pa;               // first byte of the failed access
  uint64_t length = 0;  // bytes requested
  uint64_t size = 0;    // size of the physical address space
  /// One precise line, e.g. "physical access [0x1000000000, +8) outside RAM of 0x100000000 bytes".
  std::string message() const;
};

/// Why back_contiguous() / back_window() could not back a range. Nothing changed in Memory when
/// it is returned. pa/length name the offending range (kHostMapFailed from back_window(): the
/// first part and the whole window's size).
struct BackingError {
  enum class Kind : uint8_t {
    kOutOfRange,     // [pa, pa + length) is not wholly inside RAM
    kMisaligned,     // pa or length is not a multiple of 4 KiB, or length is zero
    kOverlap,        // the range straddles an existing contiguous range (detail: its first byte)
    kResident,       // a page of the range was already allocated on its own (detail: its PFN)
    kHostMapFailed,  // the host refused the reservation (detail: mmap's errno, e.g. ENOMEM)
  };
  Kind kind = Kind::kOutOfRange;
  Hpa pa;
  uint64_t length = 0;
  uint64_t detail = 0;
  /// One precise line, e.g. "cannot back [0x1000, +0x2000) contiguously: host mmap failed:
  /// Cannot allocate memory (errno 12)".
  std::string message() const;
};

/// Host-physical RAM of a fixed size.
class Memory {
 public:
  /// Default size of the physical address space: 4 GiB.
  static constexpr uint64_t kDefaultSize = uint64_t{4} << 30;
  /// Largest supported size: 256 TiB (48-bit physical addresses).
  static constexpr uint64_t kMaxSize = uint64_t{1} << 48;

  /// Creates RAM of `size` bytes; `size` must be a non-zero multiple of 4 KiB, at most kMaxSize.
  /// Returns a precise message otherwise.
  static std::expected<std::unique_ptr<Memory>, std::string> create(uint64_t size = kDefaultSize);

  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;
  ~Memory();

  /// Size of the physical address space in bytes.
  uint64_t size() const { return size_; }
  /// Number of 4 KiB pages that have been allocated (written or handed out by page_pointer).
  uint64_t resident_pages() const { return resident_pages_; }
  /// True if `pa` lies inside RAM.
  bool contains(Hpa pa) const { return pa.value < size_; }
  /// True if [pa, pa + length) lies inside RAM (length 0 is inside iff pa <= size).
  bool contains(Hpa pa, uint64_t length) const {
    return pa.value <= size_ && length <= size_ - pa.value;
  }

  /// Copies [pa, pa + out.size()) into `out`; spans may cross pages. Untouched pages read as 0.
  std::expected<void, MemError> read(Hpa pa, std::span<uint8_t> out) const;
  /// Copies `in` to [pa, pa + in.size()); spans may cross pages. Allocates pages as needed.
  std::expected<void, MemError> write(Hpa pa, std::span<const uint8_t> in);
  /// Sets [pa, pa + length) to `value`.
  std::expected<void, MemError> fill(Hpa pa, uint64_t length, uint8_t value);

  /// Little-endian scalar accesses of 1, 2, 4 or 8 bytes; may cross a page boundary.
  template <class T>
  std::expected<T, MemError> load(Hpa pa) const;
  template <class T>
  std::expected<void, MemError> store(Hpa pa, T value);

  std::expected<uint8_t, MemError> read8(Hpa pa) const { return load<uint8_t>(pa); }
  std::expected<uint16_t, MemError> read16(Hpa pa) const { return load<uint16_t>(pa); }
  std::expected<uint32_t, MemError> read32(Hpa pa) const { return load<uint32_t>(pa); }
  std::expected<uint64_t, MemError> read64(Hpa pa) const { return load<uint64_t>(pa); }
  std::expected<void, MemError> write8(Hpa pa, uint8_t v) { return store(pa, v); }
  std::expected<void, MemError> write16(Hpa pa, uint16_t v) { return store(pa, v); }
  std::expected<void, MemError> write32(Hpa pa, uint32_t v) { return store(pa, v); }
  std::expected<void, MemError> write64(Hpa pa, uint64_t v) { return store(pa, v); }

  /// Writes or restores the contents: the size, then every resident page in ascending PFN
  /// order. Restoring requires a Memory of the same size with no resident pages; pages that were
  /// never touched stay untouched, so a snapshot of a sparse machine stays sparse.
  void serialize(Serializer& s);

  // ------------------------------ contiguous.cc -------------------------------------------

  /// Backs [pa, pa + length) (page aligned) with ONE contiguous host reservation (anonymous,
  /// MAP_NORESERVE: untouched pages cost no host memory and read zero) and returns the host
  /// address of byte `pa`. Nothing else changes: the range stays sparse (reads of untouched
  /// pages allocate nothing, resident_pages() counts only pages written or handed out by
  /// page_pointer), and page_pointer(), read() and write() use the same bytes, so there is one
  /// copy. Snapshots are unchanged (PFNs and contents, never host addresses).
  /// The pointer is for READING ONLY: write through write()/store()/page_pointer(), which mark a
  /// page resident; a page that is not resident always holds zeros. It stays valid for Memory's
  /// lifetime. A range lying wholly inside an existing contiguous range returns a pointer into
  /// it. Errors (Memory unchanged): out of RAM, misaligned, straddling an existing contiguous
  /// range, a page of the range already resident on its own (its bytes live elsewhere), or the
  /// host refusing the mapping (e.g. RLIMIT_AS).
  std::expected<const uint8_t*, BackingError> back_contiguous(Hpa pa, uint64_t length);

  /// One physical range of a window: [pa, pa + length) placed at byte `offset` of the window.
  struct WindowPart {
    Hpa pa;
    uint64_t length = 0;
    uint64_t offset = 0;
  };
  /// Generalises back_contiguous(): backs several physical ranges with ONE host reservation
  /// (the window), part k at window + parts[k].offset, and returns the window's address. All
  /// of pa, length and offset must be page aligned and the parts may overlap neither in RAM nor
  /// in the window. Bytes of the window outside every part are no RAM: they read as zero and
  /// nothing writes them. Lets a client lay out tables scattered in RAM so one host index
  /// reaches all of them (the segmented RMP). When every part already lies in existing ranges
  /// at the same relative placement, the existing window is returned; other overlaps with
  /// existing ranges are errors. Same properties and errors as back_contiguous() otherwise;
  /// BackingError names the offending part.
  std::expected<const uint8_t*, BackingError> back_window(std::span<const WindowPart> parts);

  /// Host address of byte `pa` if [pa, pa + length) lies inside one contiguous range, else
  /// nullptr. Read-only, as for back_contiguous().
  const uint8_t* contiguous_pointer(Hpa pa, uint64_t length) const;
  /// Number of physical ranges backed contiguously (a window counts each of its parts).
  size_t contiguous_ranges() const { return contiguous_.size(); }

  /// Fast path: pointer to the 4 KiB page `pfn`, allocating it (zeroed) on first use.
  /// Returns nullptr if the page is outside RAM. The pointer stays valid for Memory's lifetime.
  uint8_t* page_pointer(Pfn pfn) {
    if (pfn.value >= page_count_) return nullptr;
    uint8_t* const* chunk = directory_[pfn.value >> kChunkShift].get();
    if (chunk != nullptr) {
      uint8_t* page = chunk[pfn.value & kChunkMask];
      if (page != nullptr) return page;
    }
    return allocate_page(pfn);
  }
  /// Read-only fast path: pointer to the page if it has been allocated, else nullptr (the page
  /// reads as zeros). Never allocates. nullptr also for pages outside RAM.
  const uint8_t* page_pointer_if_present(Pfn pfn) const {
    if (pfn.value >= page_count_) return nullptr;
    uint8_t* const* chunk = directory_[pfn.value >> kChunkShift].get();
    return chunk == nullptr ? nullptr : chunk[pfn.value & kChunkMask];
  }

 private:
  // Two-level directory: one slot per 1 GiB chunk, each chunk an array of page pointers
  // allocated on first touch, each page 4 KiB allocated on first write.
  static constexpr uint64_t kChunkShift = 18;  // 2^18 pages = 1 GiB per chunk
  static constexpr uint64_t kChunkPages = uint64_t{1} << kChunkShift;
  static constexpr uint64_t kChunkMask = kChunkPages - 1;

  struct PageDeleter {
    void operator()(uint8_t* p) const;
  };
  using Chunk = std::unique_ptr<uint8_t*[]>;

  // One host reservation behind pages [first_pfn, first_pfn + pages). Disjoint, sorted.
  struct ContiguousRange {
    uint64_t first_pfn = 0;
    uint64_t pages = 0;
    uint8_t* host = nullptr;
  };

  explicit Memory(uint64_t size);
  uint8_t* allocate_page(Pfn pfn);
  // The contiguous range holding `pfn`, or nullptr.
  const ContiguousRange* contiguous_range_of(uint64_t pfn) const;
  // One host mapping made by back_window() (unmapped by the destructor).
  struct Reservation {
    uint8_t* host = nullptr;
    uint64_t bytes = 0;
  };
  // Unmaps every reservation (destructor only).
  void release_contiguous();
  MemError out_of_range(Hpa pa, uint64_t length) const {
    return MemError{MemError::Kind::kOutOfRange, pa, length, size_};
  }

  uint64_t size_;
  uint64_t page_count_;
  uint64_t resident_pages_ = 0;
  std::vector<Chunk> directory_;
  std::vector<ContiguousRange> contiguous_;
  std::vector<Reservation> reservations_;
};

template <class T>
std::expected<T, MemError> Memory::load(Hpa pa) const {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
  if (!contains(pa, sizeof(T))) return std::unexpected(out_of_range(pa, sizeof(T)));
  const uint64_t offset = pa.value & kPageOffsetMask;
  if (offset + sizeof(T) <= kPageSize) {
    const uint8_t* page = page_pointer_if_present(pfn_of(pa));
    if (page == nullptr) return T{0};
    T v;
    std::memcpy(&v, page + offset, sizeof(T));
    return v;
  }
  T v;
  auto r = read(pa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), sizeof(T)));
  if (!r) return std::unexpected(r.error());
  return v;
}

template <class T>
std::expected<void, MemError> Memory::store(Hpa pa, T value) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
  if (!contains(pa, sizeof(T))) return std::unexpected(out_of_range(pa, sizeof(T)));
  const uint64_t offset = pa.value & kPageOffsetMask;
  if (offset + sizeof(T) <= kPageSize) {
    std::memcpy(page_pointer(pfn_of(pa)) + offset, &value, sizeof(T));
    return {};
  }
  return write(pa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
}

}  // namespace snpemu
