// test/fuzz/elf_fuzz.cc: arbitrary bytes as an ELF image. Invariants: parsing never reads out of
// bounds (ASan) and never crashes; a load either succeeds or writes nothing.
#include <cstdio>
#include <cstdlib>
#include <span>

#include "emu/elf/elf.h"
#include "emu/mem/memory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> file(data, size);
  auto image = snpemu::parse_elf64(file);
  if (!image) {
    if (image.error().rfind("ELF: ", 0) != 0) std::abort();  // every message names its origin
    return 0;
  }
  auto mem = std::move(*snpemu::Memory::create(uint64_t{1} << 30));
  if (!snpemu::load_elf64(*image, file, *mem) && mem->resident_pages() != 0) {
    std::fprintf(stderr, "elf_fuzz: failed load wrote memory\n");
    std::abort();
  }
  return 0;
}
