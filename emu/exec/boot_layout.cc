// emu/exec/boot_layout.cc: page-table and GDT images of the 64-bit boot layout.
#include "emu/exec/boot_layout.h"

#include <bit>
#include <cstring>
#include <span>

namespace snpemu::boot {
namespace {

static_assert(std::endian::native == std::endian::little);

void put64(std::span<uint8_t> bytes, uint64_t offset, uint64_t value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

}  // namespace

std::vector<uint8_t> page_tables_image(uint64_t entry_bits) {
  std::vector<uint8_t> image(kPageTablesEnd - kPml4, 0);
  put64(image, kPml4 - kPml4, kPdpt | kPteP | kPteRw | entry_bits);
  for (uint64_t i = 0; i < kPdCount; ++i) {
    const uint64_t pd = kPd0 + i * kPageSize;
    put64(image, kPdpt - kPml4 + 8 * i, pd | kPteP | kPteRw | entry_bits);
    for (uint64_t j = 0; j < 512; ++j) {
      const uint64_t pa = (i << 30) | (j << 21);
      put64(image, pd - kPml4 + 8 * j, pa | kPteP | kPteRw | kPtePs | entry_bits);
    }
  }
  return image;
}

std::array<uint8_t, kPageSize> gdt_page_image() {
  std::array<uint8_t, kPageSize> page{};
  put64(page, 8, kGdtCodeDescriptor);
  put64(page, 16, kGdtDataDescriptor);
  return page;
}

}  // namespace snpemu::boot
