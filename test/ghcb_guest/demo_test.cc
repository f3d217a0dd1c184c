// The demo guest: its freestanding image is a loadable ELF that contains the SEV instruction
// encodings, and its native twin runs the whole boot flow against the fake KVM.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "emu/elf/elf.h"
#include "emu/mem/memory.h"
#include "test/ghcb_guest/guest_fixture.h"
#include "test/util/runfiles.h"

extern "C" long guest_main_demo(void);
extern "C" struct ghcb ghcb_demo_page;
extern "C" uint8_t ghcb_demo_buffer[2 * 4096];

namespace snpemu::test {
namespace {

// `name` is relative to the workspace root.
size_t count(const std::vector<uint8_t>& hay, std::array<uint8_t, 4> needle) {
  size_t n = 0;
  for (auto it = hay.begin();
       (it = std::search(it, hay.end(), needle.begin(), needle.end())) != hay.end(); ++it)
    ++n;
  return n;
}

TEST(DemoImage, LoadsAndItsCodeHoldsTheSevInstructions) {
  const auto file = test::read_runfile("test/ghcb_guest/demo.elf");
  auto image = parse_elf64(file);
  ASSERT_TRUE(image.has_value()) << image.error();
  EXPECT_GE(image->entry, 0x100000u);
  auto mem = std::move(*Memory::create(64 << 20));
  ASSERT_TRUE(load_elf64(*image, file, *mem).has_value());
  EXPECT_EQ(*mem->read32(Hpa{image->entry}), 0xF0E48348u) << "start.S: and $-16, %rsp";
  std::vector<uint8_t> text;
  for (const ElfSegment& s : image->segments) {
    if ((s.flags & 1) == 0) continue;  // PF_X
    text.insert(text.end(), file.begin() + static_cast<long>(s.offset),
                file.begin() + static_cast<long>(s.offset + s.filesz));
  }
  ASSERT_FALSE(text.empty());
  EXPECT_GE(count(text, {0xF3, 0x0F, 0x01, 0xD9}), 1u) << "VMGEXIT (rep; vmmcall)";
  EXPECT_GE(count(text, {0xF2, 0x0F, 0x01, 0xFF}), 1u) << "PVALIDATE";
  EXPECT_GE(count(text, {0xF3, 0x0F, 0x01, 0xFE}), 1u) << "RMPADJUST";
}

TEST(DemoImage, FreestandingArchiveHoldsVmgexit) {
  const auto lib = test::read_runfile("ghcb/guest/libghcb_guest.a");
  EXPECT_GE(count(lib, {0xF3, 0x0F, 0x01, 0xD9}), 1u);
}

TEST(DemoNative, BootsConvertsAndPrintsAgainstFakeKvm) {
  FakeKvm kvm;
  FakeKvm::Scope scope(kvm);
  const uint64_t ghcb_gpa = reinterpret_cast<uint64_t>(&ghcb_demo_page);
  const uint64_t buf_gpa = reinterpret_cast<uint64_t>(ghcb_demo_buffer);
  kvm.set_private(ghcb_gpa, 1, true, false);
  kvm.set_private(buf_gpa, 2, true, false);
  ASSERT_EQ(guest_main_demo(), 0);
  std::string errors;
  for (const auto& e : kvm.errors()) errors += e + "\n";
  EXPECT_TRUE(kvm.errors().empty()) << errors;
  EXPECT_EQ(kvm.registered_gpa(), ghcb_gpa);
  EXPECT_FALSE(kvm.page(ghcb_gpa).is_private)
      << "expected the GHCB at gpa " << hex(ghcb_gpa) << " to be shared";
  EXPECT_TRUE(kvm.page(buf_gpa).is_private && kvm.page(buf_gpa).validated);
  EXPECT_TRUE(kvm.page(buf_gpa + 4096).is_private && kvm.page(buf_gpa + 4096).validated);
  EXPECT_EQ(kvm.console(), "ghcb demo: protocol v2 cpuid 0x8000001f ebx " + std::string([] {
                             char b[20];
                             std::snprintf(b, sizeof b, "0x%016x",
                                           FakeKvm::cpuid_value(0x8000001F, 0, 1));
                             return std::string(b);
                           }()) +
                               " psc ok\n");
  EXPECT_EQ(kvm.exit_value(), 0u);
}

}  // namespace
}  // namespace snpemu::test
