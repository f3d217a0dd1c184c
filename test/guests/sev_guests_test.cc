// The SEV-ES / SNP payloads (sev_es_hello, sev_es_terminate, snp_pvalidate): each image parses,
// loads at 1 MiB, is accepted by the VMM's SNP launch plan (emu/vmm/launch_plan.h: no overlap
// with the boot pages, inside the identity map), and its code holds the instructions the
// end-to-end run depends on. Running them is the emulator tests' job.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "emu/elf/elf.h"
#include "emu/mem/memory.h"
#include "emu/vmm/launch_plan.h"
#include "test/util/runfiles.h"

namespace snpemu {
namespace {

size_t count(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
  size_t n = 0;
  for (auto it = hay.begin();
       (it = std::search(it, hay.end(), needle.begin(), needle.end())) != hay.end(); ++it)
    ++n;
  return n;
}

std::vector<uint8_t> code_of(const std::vector<uint8_t>& file, const ElfImage& image) {
  std::vector<uint8_t> text;
  for (const ElfSegment& s : image.segments) {
    if ((s.flags & 1) == 0) continue;  // PF_X
    text.insert(text.end(), file.begin() + static_cast<long>(s.offset),
                file.begin() + static_cast<long>(s.offset + s.filesz));
  }
  return text;
}

class SevGuest : public ::testing::TestWithParam<const char*> {};

TEST_P(SevGuest, LoadsIsLaunchableAndHoldsTheProtocolInstructions) {
  const std::string name = GetParam();
  const auto file = test::read_runfile("test/guests/" + name + ".elf");
  auto image = parse_elf64(file);
  ASSERT_TRUE(image.has_value()) << name << ": " << image.error();
  EXPECT_GE(image->entry, 0x100000u) << name;
  auto mem = std::move(*Memory::create(64 << 20));
  ASSERT_TRUE(load_elf64(*image, file, *mem).has_value()) << name;
  EXPECT_EQ(*mem->read32(Hpa{image->entry}), 0xF0E48348u) << name << ": start.S and $-16, %rsp";
  auto plan = vmm::make_launch_plan(file, vmm::LaunchOptions{});
  ASSERT_TRUE(plan.has_value()) << name << ": " << plan.error().message;
  EXPECT_EQ(plan->entry, image->entry) << name;

  const auto text = code_of(file, *image);
  EXPECT_GE(count(text, {0xF3, 0x0F, 0x01, 0xD9}), 1u) << name << ": VMGEXIT";
  EXPECT_GE(count(text, {0x48, 0xCF}), 1u) << name << ": IRETQ of the #VC stub";
  if (name == "sev_es_hello") {
    EXPECT_GE(count(text, {0xE6, 0xE9}), 1u) << "OUT 0xE9, AL (console through #VC)";
    EXPECT_GE(count(text, {0x0F, 0xA2}), 2u) << "CPUID instructions (before and after the GHCB)";
  }
  if (name == "snp_pvalidate") {
    EXPECT_GE(count(text, {0xF2, 0x0F, 0x01, 0xFF}), 1u) << "PVALIDATE";
  }
}

INSTANTIATE_TEST_SUITE_P(Payloads, SevGuest,
                         ::testing::Values("sev_es_hello", "sev_es_terminate", "snp_pvalidate"));

}  // namespace
}  // namespace snpemu
