// test/emu/elf_builder.h: a tiny ELF64 image builder for launch-plan and measure tests.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace snpemu::test {

/// An ET_EXEC x86-64 image whose PT_LOAD segments carry the given bytes. Segment data follows
/// the program headers in the order added.
struct ElfBuilder {
  struct Seg {
    uint64_t vaddr, paddr, memsz;
    uint32_t flags;
    std::vector<uint8_t> data;  // filesz = data.size()
  };
  uint64_t entry = 0x100000;
  std::vector<Seg> segs;

  ElfBuilder& add(uint64_t addr, std::vector<uint8_t> data, uint64_t memsz,
                  uint32_t flags = PF_R | PF_X) {
    segs.push_back(Seg{addr, addr, memsz, flags, std::move(data)});
    return *this;
  }

  std::vector<uint8_t> bytes() const {
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phnum = static_cast<uint16_t>(segs.size());
    std::vector<uint8_t> out(sizeof eh + segs.size() * sizeof(Elf64_Phdr));
    std::memcpy(out.data(), &eh, sizeof eh);
    uint64_t off = out.size();
    for (size_t i = 0; i < segs.size(); ++i) {
      const Seg& s = segs[i];
      const Elf64_Phdr ph{PT_LOAD, s.flags, off, s.vaddr, s.paddr, s.data.size(), s.memsz, 4096};
      std::memcpy(out.data() + sizeof eh + i * sizeof(Elf64_Phdr), &ph, sizeof ph);
      off += s.data.size();
    }
    for (const Seg& s : segs) out.insert(out.end(), s.data.begin(), s.data.end());
    return out;
  }
};

}  // namespace snpemu::test
