// The host machine: RMP placement at the top of RAM, cores wired to RAM, the key slots and the
// RMP, and a clear error for a machine too small for its RMP.
#include "emu/machine/machine.h"

#include <gtest/gtest.h>

namespace snpemu {
namespace {

TEST(Machine, SnpMachinePlacesTheRmpAtTheTopOfRam) {
  MachineConfig c;
  c.mem_bytes = uint64_t{64} << 20;
  c.cores = 2;
  auto m = Machine::create(c);
  ASSERT_TRUE(m.has_value()) << m.error();
  Machine& machine = **m;
  ASSERT_NE(machine.rmp(), nullptr);
  // 16 KiB bookkeeping + 16384 entries * 16 bytes = 272 KiB, rounded to 1 MiB.
  EXPECT_EQ(machine.rmp_base(), c.mem_bytes - (uint64_t{1} << 20));
  EXPECT_EQ(machine.core_count(), 2u);
  EXPECT_EQ(machine.core(1).config().rmp, machine.rmp());
  EXPECT_EQ(machine.core(0).config().keys, &machine.keys());
  EXPECT_EQ(machine.core(0).config().paging.c_bit, 51) << "from CPUID 0x8000001F EBX";
}

TEST(Machine, HostCodeCannotWriteTheRmp) {
  MachineConfig c;
  c.mem_bytes = uint64_t{64} << 20;
  auto m = Machine::create(c);
  ASSERT_TRUE(m.has_value()) << m.error();
  cpu::Core& core = (*m)->core(0);
  core.state() = cpu::long_mode_state(0x1000, 0x8000);
  const uint64_t v = 1;
  uint64_t bus_error = cpu::kNoBusError;
  auto r = core.write_linear((*m)->rmp_base() + 0x5000, std::span(reinterpret_cast<const uint8_t*>(&v), 8),
                             cpu::LinearAccess{mmu::AccessKind::kWrite, false}, &bus_error);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().vector, cpu::Vector::kPf);
  EXPECT_TRUE(r.error().error_code & rmp::hostpf::kRmp) << "RMP pages are never host-writable";
  auto ok = core.write_linear(0x5000, std::span(reinterpret_cast<const uint8_t*>(&v), 8),
                              cpu::LinearAccess{mmu::AccessKind::kWrite, false}, &bus_error);
  EXPECT_TRUE(ok.has_value()) << "ordinary RAM is";
}

TEST(Machine, SnpOffHasNoRmp) {
  MachineConfig c;
  c.mem_bytes = uint64_t{16} << 20;
  c.snp = false;
  auto m = Machine::create(c);
  ASSERT_TRUE(m.has_value()) << m.error();
  EXPECT_EQ((*m)->rmp(), nullptr);
  EXPECT_EQ((*m)->rmp_base(), c.mem_bytes);
  EXPECT_EQ((*m)->core(0).config().rmp, nullptr);
}

TEST(Machine, TooSmallForItsRmpIsAClearError) {
  MachineConfig c;
  c.mem_bytes = uint64_t{1} << 20;
  auto m = Machine::create(c);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error(), "snp: 1048576 bytes of memory leave no room for the RMP");
}

}  // namespace
}  // namespace snpemu
