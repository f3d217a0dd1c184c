// emu/elf/elf.h: ELF64 executables for `snpemu exec` and test guests.
//
// parse_elf64 copies what it needs out of the file and validates every field it uses, so a
// malformed file yields one precise message and never an out-of-bounds read. load_elf64 places
// the PT_LOAD segments at their physical addresses in host memory.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "emu/mem/memory.h"

namespace snpemu {

/// One PT_LOAD program header, validated against the file.
struct ElfSegment {
  uint64_t offset = 0;  // p_offset: where the bytes start in the file
  uint64_t vaddr = 0;   // p_vaddr
  uint64_t paddr = 0;   // p_paddr: where load_elf64 places them
  uint64_t filesz = 0;  // p_filesz <= p_memsz; the rest of memsz is zero-filled
  uint64_t memsz = 0;
  uint32_t flags = 0;  // PF_X = 1, PF_W = 2, PF_R = 4
};

/// A validated ELF64 x86-64 executable.
struct ElfImage {
  uint64_t entry = 0;                // e_entry (virtual)
  std::vector<ElfSegment> segments;  // PT_LOAD segments in file order, memsz > 0
};

/// Parses and validates an ELF64 little-endian x86-64 ET_EXEC image. Errors name the field,
/// e.g. "ELF: program header 2: p_offset + p_filesz (0x2000) is past the end of the file (0x1800)".
std::expected<ElfImage, std::string> parse_elf64(std::span<const uint8_t> file);

/// Copies each segment of `image` (parsed from `file`) to host memory at p_paddr and zero-fills
/// up to p_memsz. Fails, loading nothing, if a segment or the entry point lies outside memory,
/// if segments overlap, or if the entry is not inside an executable segment.
std::expected<void, std::string> load_elf64(const ElfImage& image, std::span<const uint8_t> file,
                                            Memory& memory);

}  // namespace snpemu
