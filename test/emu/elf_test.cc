// Tests of ELF64 parsing and loading: every malformed field gets a precise message and a failed
// load writes nothing.
#include "emu/elf/elf.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace snpemu {
namespace {

// A minimal valid image: one RX segment of 16 bytes at paddr/vaddr 0x100000, entry at its start,
// and one RW segment (8 bytes of file data, 4096 in memory) at 0x200000.
struct Builder {
  Elf64_Ehdr eh{};
  std::vector<Elf64_Phdr> ph;
  std::vector<uint8_t> payload = std::vector<uint8_t>(24, 0x90);

  Builder() {
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = 0x100000;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    const uint64_t data_off = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
    ph.push_back(Elf64_Phdr{PT_LOAD, PF_R | PF_X, data_off, 0x100000, 0x100000, 16, 16, 4096});
    ph.push_back(
        Elf64_Phdr{PT_LOAD, PF_R | PF_W, data_off + 16, 0x200000, 0x200000, 8, 4096, 4096});
  }
  std::vector<uint8_t> bytes() {
    eh.e_phnum = static_cast<uint16_t>(ph.size());
    std::vector<uint8_t> out(sizeof eh + ph.size() * sizeof(Elf64_Phdr));
    std::memcpy(out.data(), &eh, sizeof eh);
    std::memcpy(out.data() + sizeof eh, ph.data(), ph.size() * sizeof(Elf64_Phdr));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
};

std::string parse_error(Builder& b) {
  auto r = parse_elf64(b.bytes());
  return r.has_value() ? "parsed" : r.error();
}

TEST(ElfParse, AcceptsAValidImage) {
  Builder b;
  auto r = parse_elf64(b.bytes());
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->entry, 0x100000u);
  ASSERT_EQ(r->segments.size(), 2u);
  EXPECT_EQ(r->segments[1].memsz, 4096u);
}

TEST(ElfParse, RejectsEachBadHeaderField) {
  EXPECT_EQ(parse_elf64(std::vector<uint8_t>(10)).error(),
            "ELF: file is 10 bytes, shorter than the 64-byte ELF64 header");
  {
    Builder b;
    b.eh.e_ident[1] = 'X';
    EXPECT_EQ(parse_error(b), "ELF: bad magic (not an ELF file)");
  }
  {
    Builder b;
    b.eh.e_ident[EI_CLASS] = ELFCLASS32;
    EXPECT_EQ(parse_error(b), "ELF: class 1 is not ELFCLASS64 (2)");
  }
  {
    Builder b;
    b.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    EXPECT_EQ(parse_error(b), "ELF: not little-endian (EI_DATA != ELFDATA2LSB)");
  }
  {
    Builder b;
    b.eh.e_machine = EM_AARCH64;
    EXPECT_EQ(parse_error(b), "ELF: e_machine 183 is not EM_X86_64 (62)");
  }
  {
    Builder b;
    b.eh.e_type = ET_DYN;
    EXPECT_EQ(parse_error(b),
              "ELF: e_type 3 is not ET_EXEC (2): link the image with -static -no-pie");
  }
  {
    Builder b;
    b.eh.e_phentsize = 40;
    EXPECT_EQ(parse_error(b), "ELF: e_phentsize 40 is not 56");
  }
  {
    Builder b;
    b.eh.e_phoff = 0xFFFFFFFFFFFFFFF0ull;
    EXPECT_NE(parse_error(b).find("program header table at 0xfffffffffffffff0"), std::string::npos);
  }
}

TEST(ElfParse, RejectsEachBadSegment) {
  {
    Builder b;
    b.ph[1].p_filesz = 8192;
    b.ph[1].p_memsz = 4096;
    EXPECT_EQ(parse_error(b),
              "ELF: program header 1: p_filesz (0x2000) is larger than p_memsz (0x1000)");
  }
  {
    Builder b;
    b.ph[0].p_offset = 1 << 20;
    EXPECT_NE(parse_error(b).find("program header 0: p_offset + p_filesz (0x100010) is past the "
                                  "end of the file"),
              std::string::npos);
  }
  {
    Builder b;
    b.ph[0].p_paddr = ~0ull - 4;
    EXPECT_EQ(parse_error(b),
              "ELF: program header 0: segment wraps around the 64-bit address space");
  }
  {
    Builder b;
    b.ph[0].p_type = PT_NOTE;
    b.ph[1].p_type = PT_NOTE;
    EXPECT_EQ(parse_error(b), "ELF: no loadable (PT_LOAD) segment");
  }
}

TEST(ElfLoad, PlacesSegmentsAndZeroFillsBss) {
  Builder b;
  b.payload[16] = 0xAB;
  const auto file = b.bytes();
  auto image = *parse_elf64(file);
  auto mem = std::move(*Memory::create(16 << 20));
  (void)mem->fill(Hpa{0x200000}, 4096, 0xEE);  // stale contents under .bss must be cleared
  ASSERT_TRUE(load_elf64(image, file, *mem).has_value());
  EXPECT_EQ(*mem->read8(Hpa{0x100000}), 0x90u);
  EXPECT_EQ(*mem->read8(Hpa{0x200000}), 0xABu);
  EXPECT_EQ(*mem->read8(Hpa{0x200008}), 0u) << "bss byte after p_filesz";
  EXPECT_EQ(*mem->read8(Hpa{0x200FFF}), 0u);
}

TEST(ElfLoad, FailedLoadsWriteNothing) {
  struct Case {
    const char* what;
    void (*mutate)(Builder&);
    const char* error;
  };
  const Case cases[] = {
      {"segment outside memory", [](Builder& b) { b.ph[1].p_paddr = 0x2000000; },
       "ELF: segment 1 [0x2000000, 0x2001000) lies outside memory of 0x1000000 bytes"},
      {"overlap", [](Builder& b) { b.ph[1].p_paddr = 0x100008; },
       "ELF: segments 0 and 1 overlap in physical memory"},
      {"entry outside code", [](Builder& b) { b.eh.e_entry = 0x200000; },
       "ELF: entry point 0x200000 is not inside an executable segment"},
  };
  for (const Case& c : cases) {
    Builder b;
    c.mutate(b);
    const auto file = b.bytes();
    auto image = parse_elf64(file);
    ASSERT_TRUE(image.has_value()) << c.what << ": " << image.error();
    auto mem = std::move(*Memory::create(16 << 20));
    auto r = load_elf64(*image, file, *mem);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_EQ(r.error(), c.error) << c.what;
    EXPECT_EQ(mem->resident_pages(), 0u) << c.what << ": a failed load must write nothing";
  }
}

}  // namespace
}  // namespace snpemu
