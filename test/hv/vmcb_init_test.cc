// init_vmcb + init_long_mode_save_area produce a VMCB that passes every VMRUN consistency check
// of cpu/svm, with KVM's permission maps in host memory.
#include <gtest/gtest.h>

#include "test/hv/exit_fixture.h"

namespace snpemu::hv::test {
namespace {

bool msrpm_bit(ExitFixture& f, uint32_t msr, svm::MsrAccess a) {
  std::vector<uint8_t> map(svm::kMsrpmSize);
  EXPECT_TRUE(f.memory->read(f.maps.msrpm, map).has_value());
  return svm::msr_intercepted(map, msr, a);
}

TEST(VmcbInit, PassesVmrunConsistencyChecks) {
  ExitFixture f;
  const svm::VmrunCheck check =
      svm::check_vmrun(f.vmcb.control, svm::guest_state_of(f.vmcb.save), svm::SvmCaps{});
  EXPECT_EQ(check, svm::VmrunCheck::kOk) << svm::vmrun_check_name(check);
  EXPECT_EQ(f.vmcb.control.nested_cr3, f.npt->root().value);
  EXPECT_EQ(f.vmcb.control.nested_ctl, svm::nested_ctl::kNpEnable);
  EXPECT_EQ(f.vmcb.control.asid, 1u);
  EXPECT_EQ(f.vmcb.control.int_ctl, svm::int_ctl::kVIntrMasking);
  EXPECT_EQ(svm::msrpm_base(f.vmcb.control), f.maps.msrpm);
  EXPECT_EQ(svm::iopm_base(f.vmcb.control), f.maps.iopm);
  EXPECT_EQ(f.maps.iopm.value, f.maps.msrpm.value + svm::kMsrpmSize) << "runs from the host pool";
  for (svm::Intercept i :
       {svm::Intercept::kCpuid, svm::Intercept::kHlt, svm::Intercept::kIoioProt,
        svm::Intercept::kMsrProt, svm::Intercept::kShutdown, svm::Intercept::kVmrun,
        svm::Intercept::kVmmcall, svm::Intercept::kInvlpga, svm::Intercept::kIntr,
        svm::Intercept::kNmi, svm::Intercept::kVmload, svm::Intercept::kStgi}) {
    EXPECT_TRUE(svm::is_intercept_set(f.vmcb.control, i)) << static_cast<int>(i);
    EXPECT_TRUE(has_exit_handler(svm::to_u64(svm::exit_code_of(i))))
        << "intercept " << static_cast<int>(i) << " set without a handler";
  }
  EXPECT_FALSE(svm::is_intercept_set(f.vmcb.control, svm::Intercept::kPause));
  // Every intercept that is set has a handler (none can end as an unexpected exit).
  for (unsigned bit = 96; bit < 192; ++bit) {
    if (svm::is_intercept_set(f.vmcb.control, static_cast<svm::Intercept>(bit))) {
      EXPECT_TRUE(has_exit_handler(bit)) << "intercept bit " << bit;
    }
  }
  EXPECT_EQ(f.vmcb.control.intercepts[0], 0u) << "no CR intercepts";
  EXPECT_EQ(f.vmcb.control.intercepts[2], 0u) << "no exception intercepts";
}

TEST(VmcbInit, PermissionMapsMatchKvm) {
  ExitFixture f;
  for (uint32_t msr : {0xC000'0081u, 0x174u, 0xC000'0100u, 0xC000'0101u, 0xC000'0102u, 0xC000'0082u,
                       0xC000'0083u, 0xC000'0084u}) {
    EXPECT_FALSE(msrpm_bit(f, msr, svm::MsrAccess::kRead)) << std::hex << msr;
    EXPECT_FALSE(msrpm_bit(f, msr, svm::MsrAccess::kWrite)) << std::hex << msr;
  }
  for (uint32_t msr : {0x10u, 0x1Bu, 0x175u, 0x176u, 0x277u, 0xC000'0080u, 0xC000'0103u,
                       0xC001'0130u, 0x4000'0000u}) {
    EXPECT_TRUE(msrpm_bit(f, msr, svm::MsrAccess::kRead)) << std::hex << msr;
    EXPECT_TRUE(msrpm_bit(f, msr, svm::MsrAccess::kWrite)) << std::hex << msr;
  }
  std::vector<uint8_t> iopm(svm::kIopmSize);
  ASSERT_TRUE(f.memory->read(f.maps.iopm, iopm).has_value());
  for (uint32_t port : {0x0u, 0x80u, 0xE9u, 0x3F8u, 0xFFFFu}) {
    EXPECT_TRUE(svm::io_intercepted(iopm, static_cast<uint16_t>(port), 4)) << port;
  }
}

TEST(VmcbInit, LongModeStartState) {
  ExitFixture f;
  const svm::VmcbSaveArea& s = f.vmcb.save;
  EXPECT_EQ(s.cs.attrib, 0xA9B);
  EXPECT_EQ(s.ds.attrib, 0xC93);
  EXPECT_EQ(s.rip, kGuestRip);
  EXPECT_EQ(s.cr3, kPml4Gpa);
  EXPECT_EQ(s.efer & svm::efer::kSvme, svm::efer::kSvme);
  EXPECT_TRUE(svm::pat_valid(s.g_pat));
}

TEST(VmcbInit, PermissionMapsNeedContiguousPages) {
  ExitFixture f;
  auto small = PagePool::create(*f.memory, Pfn{0x3900}, 4, "small");
  ASSERT_TRUE(small.has_value());
  auto r = create_permission_maps(*f.memory, *small);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, KvmErrno::kEnomem);
  EXPECT_EQ(small->in_use(), 0u) << "a failed allocation returns its pages";
}

}  // namespace
}  // namespace snpemu::hv::test
