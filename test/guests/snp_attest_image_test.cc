// The snp_attest payload (snp_attest.c) builds into an image the VMM's SNP launch plan accepts
// (emu/vmm/launch_plan.h: loads at 1 MiB, no overlap with the secrets / CPUID / boot pages) and
// whose code holds the instructions its run depends on. Running it end to end is the VMM tests'
// job (the hypervisor's GUEST_REQUEST); its protocol code is tested natively in
// test/ghcb_guest/attest_test.cc.
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

TEST(SnpAttestImage, LoadsIsLaunchableAndHoldsTheProtocolInstructions) {
  const auto file = test::read_runfile("test/guests/snp_attest.elf");
  auto image = parse_elf64(file);
  ASSERT_TRUE(image.has_value()) << image.error();
  EXPECT_GE(image->entry, 0x100000u);
  auto mem = std::move(*Memory::create(64 << 20));
  ASSERT_TRUE(load_elf64(*image, file, *mem).has_value());
  EXPECT_EQ(*mem->read32(Hpa{image->entry}), 0xF0E48348u) << "start.S and $-16, %rsp";
  auto plan = vmm::make_launch_plan(file, vmm::LaunchOptions{});
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_EQ(plan->entry, image->entry);
  // The payload reads VMPCK0 at the secrets page the plan launches (snp_attest.c SECRETS_GPA).
  EXPECT_EQ(vmm::kSecretsGpa, 0x80000u) << "update SECRETS_GPA in snp_attest.c";

  std::vector<uint8_t> text;
  for (const ElfSegment& s : image->segments) {
    if ((s.flags & 1) == 0) continue;  // PF_X
    text.insert(text.end(), file.begin() + static_cast<long>(s.offset),
                file.begin() + static_cast<long>(s.offset + s.filesz));
  }
  EXPECT_GE(count(text, {0xF3, 0x0F, 0x01, 0xD9}), 1u) << "VMGEXIT";
  EXPECT_GE(count(text, {0xF2, 0x0F, 0x01, 0xFF}), 1u) << "PVALIDATE (page-state changes)";
  EXPECT_GE(count(text, {0x48, 0xCF}), 1u) << "IRETQ of the #VC stub";
  // The GUEST_REQUEST exit code 0x8000_0011 as an immediate (mov $0x80000011, %esi or similar).
  EXPECT_GE(count(text, {0x11, 0x00, 0x00, 0x80}), 1u) << "GUEST_REQUEST exit code";
}

}  // namespace
}  // namespace snpemu
