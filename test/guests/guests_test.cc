// The test guests: their ELF images parse and load, and their native twins produce the known
// answers that the emulated runs are compared against.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "emu/elf/elf.h"
#include "emu/mem/memory.h"
#include "test/guests/native_shim.h"
#include "test/util/runfiles.h"

extern "C" long guest_main_checksum(void);
extern "C" long guest_main_sort(void);

namespace snpemu {
namespace {

std::vector<uint8_t> read_guest_image(const std::string& name) {
  return test::read_runfile("test/guests/" + name);
}

TEST(GuestImages, AreStaticX86_64ExecutablesLinkedAt1MiB) {
  for (const char* name : {"checksum.elf", "sort.elf"}) {
    const auto file = read_guest_image(name);
    auto image = parse_elf64(file);
    ASSERT_TRUE(image.has_value()) << name << ": " << image.error();
    EXPECT_GE(image->entry, 0x100000u) << name;
    auto mem = std::move(*Memory::create(64 << 20));
    auto loaded = load_elf64(*image, file, *mem);
    ASSERT_TRUE(loaded.has_value()) << name << ": " << loaded.error();
    // The entry point holds start.S's first instruction: and $-16, %rsp (48 83 e4 f0).
    EXPECT_EQ(*mem->read32(Hpa{image->entry}), 0xF0E48348u) << name;
  }
}

TEST(GuestNative, ChecksumKnownAnswers) {
  test::take_native_output();
  EXPECT_EQ(guest_main_checksum(), 0);
  const std::string out = test::take_native_output();
  // CRC-32 of "123456789" is the standard check value 0xCBF43926.
  EXPECT_NE(out.find("crc32(\"123456789\") 0x00000000cbf43926"), std::string::npos) << out;
}

TEST(GuestNative, SortAgreesWithItself) {
  test::take_native_output();
  EXPECT_EQ(guest_main_sort(), 0);
  const std::string out = test::take_native_output();
  EXPECT_EQ(out.rfind("sorted 2000 min ", 0), 0u) << out;
}

}  // namespace
}  // namespace snpemu
