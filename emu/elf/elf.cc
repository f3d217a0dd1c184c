// emu/elf/elf.cc: ELF64 parsing and loading. Field layout: System V gABI and the x86-64 psABI
// (the constants come from glibc's <elf.h>).
#include "emu/elf/elf.h"

#include <elf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/hex.h"

namespace snpemu {
namespace {

std::string phdr_error(size_t index, const std::string& what) {
  return "ELF: program header " + std::to_string(index) + ": " + what;
}

}  // namespace

std::expected<ElfImage, std::string> parse_elf64(std::span<const uint8_t> file) {
  Elf64_Ehdr eh;
  if (file.size() < sizeof eh) {
    return std::unexpected("ELF: file is " + std::to_string(file.size()) +
                           " bytes, shorter than the 64-byte ELF64 header");
  }
  std::memcpy(&eh, file.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return std::unexpected(std::string("ELF: bad magic (not an ELF file)"));
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
    return std::unexpected("ELF: class " + std::to_string(eh.e_ident[EI_CLASS]) +
                           " is not ELFCLASS64 (2)");
  }
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return std::unexpected(std::string("ELF: not little-endian (EI_DATA != ELFDATA2LSB)"));
  }
  if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT) {
    return std::unexpected(std::string("ELF: version is not EV_CURRENT (1)"));
  }
  if (eh.e_machine != EM_X86_64) {
    return std::unexpected("ELF: e_machine " + std::to_string(eh.e_machine) +
                           " is not EM_X86_64 (62)");
  }
  if (eh.e_type != ET_EXEC) {
    return std::unexpected("ELF: e_type " + std::to_string(eh.e_type) +
                           " is not ET_EXEC (2): link the image with -static -no-pie");
  }
  if (eh.e_phnum == 0) return std::unexpected(std::string("ELF: no program headers"));
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return std::unexpected("ELF: e_phentsize " + std::to_string(eh.e_phentsize) + " is not " +
                           std::to_string(sizeof(Elf64_Phdr)));
  }
  const uint64_t table_bytes = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff > file.size() || table_bytes > file.size() - eh.e_phoff) {
    return std::unexpected("ELF: program header table at " + hex(eh.e_phoff) + " (" +
                           std::to_string(eh.e_phnum) + " entries) is past the end of the file (" +
                           hex(file.size()) + ")");
  }

  ElfImage image;
  image.entry = eh.e_entry;
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz) {
      return std::unexpected(phdr_error(
          i,
          "p_filesz (" + hex(ph.p_filesz) + ") is larger than p_memsz (" + hex(ph.p_memsz) + ")"));
    }
    if (ph.p_offset > file.size() || ph.p_filesz > file.size() - ph.p_offset) {
      return std::unexpected(
          phdr_error(i, "p_offset + p_filesz (" + hex(ph.p_offset + ph.p_filesz) +
                            ") is past the end of the file (" + hex(file.size()) + ")"));
    }
    if (ph.p_paddr + ph.p_memsz < ph.p_paddr || ph.p_vaddr + ph.p_memsz < ph.p_vaddr) {
      return std::unexpected(phdr_error(i, "segment wraps around the 64-bit address space"));
    }
    image.segments.push_back(
        ElfSegment{ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz, ph.p_flags});
  }
  if (image.segments.empty()) {
    return std::unexpected(std::string("ELF: no loadable (PT_LOAD) segment"));
  }
  return image;
}

std::expected<void, std::string> load_elf64(const ElfImage& image, std::span<const uint8_t> file,
                                            Memory& memory) {
  // Check everything before writing anything: a failed load changes no memory.
  bool entry_in_code = false;
  for (size_t i = 0; i < image.segments.size(); ++i) {
    const ElfSegment& s = image.segments[i];
    if (!memory.contains(Hpa{s.paddr}, s.memsz)) {
      return std::unexpected("ELF: segment " + std::to_string(i) + " [" + hex(s.paddr) + ", " +
                             hex(s.paddr + s.memsz) + ") lies outside memory of " +
                             hex(memory.size()) + " bytes");
    }
    if (s.offset > file.size() || s.filesz > file.size() - s.offset) {
      return std::unexpected("ELF: segment " + std::to_string(i) + " is not inside the file");
    }
    for (size_t j = 0; j < i; ++j) {
      const ElfSegment& t = image.segments[j];
      if (s.paddr < t.paddr + t.memsz && t.paddr < s.paddr + s.memsz) {
        return std::unexpected("ELF: segments " + std::to_string(j) + " and " + std::to_string(i) +
                               " overlap in physical memory");
      }
    }
    if ((s.flags & PF_X) != 0 && image.entry - s.vaddr < s.memsz) entry_in_code = true;
  }
  if (!entry_in_code) {
    return std::unexpected("ELF: entry point " + hex(image.entry) +
                           " is not inside an executable segment");
  }
  for (const ElfSegment& s : image.segments) {
    (void)memory.write(Hpa{s.paddr}, file.subspan(s.offset, s.filesz));
    (void)memory.fill(Hpa{s.paddr + s.filesz}, s.memsz - s.filesz, 0);
  }
  return {};
}

}  // namespace snpemu
