// emu/exec/boot_layout.h: the low-memory layout a 64-bit start needs, shared by the bare-metal
// loader (emu/exec/bare_metal.cc) and the VMM's SNP launch plan (emu/vmm/launch_plan.cc), so that
// an image runs with the same page tables, GDT and stack in both.
//
//   0x1000-0x1FFF  PML4 (one entry: the PDPT)
//   0x2000-0x2FFF  PDPT (four entries: the page directories)
//   0x3000-0x6FFF  four page directories of 2 MiB pages: [0, 4 GiB) identity-mapped
//   0x7000-0x7FFF  GDT: null, 0x08 64-bit code, 0x10 data
//   0x8000-0x7FFFF stack; the first core's RSP starts at 0x80000
//
// Pure data: builders return page images and touch no memory.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "base/types.h"

namespace snpemu::boot {

inline constexpr uint64_t kPml4 = 0x1000;
inline constexpr uint64_t kPdpt = 0x2000;
inline constexpr uint64_t kPd0 = 0x3000;  // four page directories: 0x3000..0x6FFF
inline constexpr uint64_t kPdCount = 4;
inline constexpr uint64_t kPageTablesEnd = kPd0 + kPdCount * kPageSize;  // 0x7000
inline constexpr uint64_t kGdt = 0x7000;
inline constexpr uint16_t kGdtLimit = 3 * 8 - 1;
inline constexpr uint16_t kCodeSelector = 0x08;
inline constexpr uint16_t kDataSelector = 0x10;
inline constexpr uint64_t kStackBottom = 0x8000;
inline constexpr uint64_t kStackTop = 0x80000;
/// Everything below this address belongs to the loader; images must lie above it.
inline constexpr uint64_t kLoaderEnd = kStackTop;
/// End of the identity mapping the page tables provide (4 GiB).
inline constexpr uint64_t kIdentityMapEnd = kPdCount << 30;

/// GDT descriptors: 0x08 64-bit code (P, DPL0, S, execute/read, L), 0x10 data (P, S,
/// read/write). APM vol 2, 4.8 (long-mode segment descriptors).
inline constexpr uint64_t kGdtCodeDescriptor = 0x00209A0000000000ull;
inline constexpr uint64_t kGdtDataDescriptor = 0x0000920000000000ull;

// Page-table entry bits. APM vol 2, 5.3.3 (long-mode page-table entries).
inline constexpr uint64_t kPteP = 1u << 0;
inline constexpr uint64_t kPteRw = 1u << 1;
inline constexpr uint64_t kPtePs = 1u << 7;

/// The page tables (PML4, PDPT, four PDs) as one image of (kPageTablesEnd - kPml4) bytes to be
/// placed at kPml4. `entry_bits` is ORed into every entry: 0 for bare metal, the C-bit
/// (encryption mask) for an SEV guest, whose table walks and data accesses must be private.
std::vector<uint8_t> page_tables_image(uint64_t entry_bits);

/// The GDT page (4 KiB, descriptors at offset 0, the rest zero) to be placed at kGdt.
std::array<uint8_t, kPageSize> gdt_page_image();

}  // namespace snpemu::boot
