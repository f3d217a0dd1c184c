// The KVM facade: VM creation limits, the VMM's guest-RAM access through the memslot, and the
// RMP refusing a host write to a page the RMP gives to a guest (PLATFORM-FACTS 4.7), with nothing
// written.
#include "emu/kvm/kvm.h"

#include <gtest/gtest.h>

#include <array>

#include "test/kvm/host_fixture.h"

namespace snpemu::kvm {
namespace {

VmSpec spec(uint64_t mem, uint32_t vcpus = 1) {
  VmSpec s;
  s.memory_bytes = mem;
  s.vcpus = vcpus;
  return s;
}

using test::Host;

TEST(Kvm, GuestRamRoundTripsThroughTheMemslot) {
  Host host;
  auto vm = host.hyp->create_vm(spec(uint64_t{16} << 20));
  ASSERT_TRUE(vm.has_value()) << vm.error().describe();
  const std::array<uint8_t, 5> data{1, 2, 3, 4, 5};
  ASSERT_TRUE((*vm)->write_guest(0x1FFE, data).has_value()) << "straddles two pages";
  std::array<uint8_t, 5> back{};
  ASSERT_TRUE((*vm)->read_guest(0x1FFE, back).has_value());
  EXPECT_EQ(back, data);
  auto outside = (*vm)->write_guest(uint64_t{16} << 20, data);
  ASSERT_FALSE(outside.has_value());
  EXPECT_EQ(outside.error().code, hv::KvmErrno::kEfault);
}

TEST(Kvm, TooManyVcpusOrTooMuchMemoryIsRefused) {
  Host host;
  auto many = host.hyp->create_vm(spec(uint64_t{16} << 20, 3));
  ASSERT_FALSE(many.has_value());
  EXPECT_EQ(many.error().code, hv::KvmErrno::kEinval);
  auto huge = host.hyp->create_vm(spec(uint64_t{4} << 30));
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.error().code, hv::KvmErrno::kEnomem);
}

TEST(Kvm, HypervisorWriteToAGuestOwnedPageIsRefusedAndChangesNothing) {
  Host host;
  auto vm = host.hyp->create_vm(spec(uint64_t{16} << 20));
  ASSERT_TRUE(vm.has_value()) << vm.error().describe();
  const std::array<uint8_t, 4> before{0xAA, 0xBB, 0xCC, 0xDD};
  ASSERT_TRUE((*vm)->write_guest(0x5000, before).has_value());
  // Find the backing page and give it to a guest through RMPUPDATE on the host path.
  const hv::Memslot* slot = (*vm)->vm().memslots().find(Gfn{5});
  ASSERT_NE(slot, nullptr);
  auto pfn = (*vm)->vm().shared_page_if_present(slot->hva_of(Gfn{5}));
  ASSERT_TRUE(pfn.has_value());
  rmp::RmpStateView st;
  st.gpa = 0x5000;
  st.assigned = 1;
  st.asid = 1;
  auto r = host.machine->core(0).rmpupdate(pfn->value << kPageShift, st);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->rc, rmp::RmpRc::kSuccess);
  const std::array<uint8_t, 4> attempt{1, 2, 3, 4};
  auto w = (*vm)->write_guest(0x5000, attempt);
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code, hv::KvmErrno::kEfault);
  EXPECT_NE(w.error().message.find("RMP #PF"), std::string::npos) << w.error().message;
  std::array<uint8_t, 4> now{};
  ASSERT_TRUE((*vm)->read_guest(0x5000, now).has_value());
  EXPECT_EQ(now, before) << "the refused write changed nothing";
}

}  // namespace
}  // namespace snpemu::kvm
