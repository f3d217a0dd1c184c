// The SNP guest request NAE events in the hypervisor (emu/hv/ghcb_guest_request.cc), against a
// recording AMD-SP channel: the request page copied in, the response page copied out, the
// firmware status in SW_EXITINFO2, the extended form's certificate-table rule and KVM_RUN's
// -EINVAL / -EIO cases. PLATFORM-FACTS 2.3, 2.4, 2.6 [L] KVM sev.c snp_handle_(ext_)guest_req.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "test/hv/ghcb_fixture.h"

namespace snpemu::hv::test {
namespace {

using F = ghcb::GhcbField;
constexpr uint64_t kGuestRequest = 0x8000'0011, kExtGuestRequest = 0x8000'0012;
constexpr uint64_t kReq = 0x21'0000, kRsp = 0x22'0000, kData = 0x23'0000;

struct Recorder : GuestRequestChannel {
  std::vector<uint8_t> last_request;
  uint32_t status = 0;
  bool issue = true;
  int calls = 0;
  Result guest_request(std::span<const uint8_t> request, std::span<uint8_t> response) override {
    ++calls;
    last_request.assign(request.begin(), request.end());
    for (size_t i = 0; i < response.size(); ++i) response[i] = static_cast<uint8_t>(0xC0 ^ i);
    return Result{.issued = issue, .fw_error = status, .message = issue ? "" : "PSP dead"};
  }
};

struct SnpGuestRequestFixture : GhcbFixture {
  Recorder psp;
  SnpGuestRequestFixture() : GhcbFixture(VmType::kSnp) {
    vmctx.guest_requests = &psp;
    vmgexit_msr(((kGhcbGpa >> 12) << 12) | 0x012);  // register the GHCB (SNP)
    std::array<uint8_t, 4096> req{};
    for (size_t i = 0; i < req.size(); ++i) req[i] = static_cast<uint8_t>(i * 3);
    req[0x34] = 5;  // MSG_REPORT_REQ
    write_gpa(kReq, req.data(), req.size());
    write_gpa64(kData, ~uint64_t{0});
    write_gpa64(kData + 8, ~uint64_t{0});
    write_gpa64(kData + 16, ~uint64_t{0});
    write_gpa64(kData + 24, ~uint64_t{0});
  }
};

TEST(GhcbGuestRequest, RequestInResponseOutStatusInExitInfo2) {
  SnpGuestRequestFixture f;
  f.psp.status = 0x16;  // any firmware status reaches the guest unchanged
  f.call(kGuestRequest, kReq, kRsp);
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kGhcbGuestRequest);
  ASSERT_EQ(f.psp.calls, 1);
  ASSERT_EQ(f.psp.last_request.size(), 4096u);
  EXPECT_EQ(f.psp.last_request[7], static_cast<uint8_t>(21)) << "the guest's request page, byte 7";
  EXPECT_EQ(f.read_gpa64(kRsp) & 0xFF, 0xC0u) << "response copied to the guest's response page";
  EXPECT_EQ(f.read_gpa64(kRsp + 4088) >> 56, static_cast<uint64_t>(0xC0 ^ (4095 & 0xFF)));
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), 0x16u) << "firmware status in bits 31:0, VMM status 0";
}

TEST(GhcbGuestRequest, ExtendedReportRequestNeedsRaxRbxAndClearsTheCertTable) {
  SnpGuestRequestFixture f;
  f.call(kExtGuestRequest, kReq, kRsp);
  f.vmgexit();
  EXPECT_EQ(f.info1(), 2u) << "RAX/RBX not valid: malformed input";
  EXPECT_EQ(f.info2(), 5u);
  EXPECT_EQ(f.psp.calls, 0);
  f.set(F::kRax, kData + 8);  // not page aligned
  f.set(F::kRbx, 1);
  f.vmgexit();
  EXPECT_EQ(f.info2(), 5u) << "data GPA must be page aligned";
  f.set(F::kRax, kData);
  f.vmgexit();
  EXPECT_EQ(f.psp.calls, 1);
  EXPECT_EQ(f.info2(), 0u);
  EXPECT_EQ(f.read_gpa64(kData), 0u);
  EXPECT_EQ(f.read_gpa64(kData + 16), 0u) << "24 bytes of zeros: an empty certificate table";
  EXPECT_EQ(f.read_gpa64(kData + 24), ~uint64_t{0}) << "only 24 bytes are written";
}

TEST(GhcbGuestRequest, ExtendedNonReportRequestIgnoresTheDataPages) {
  SnpGuestRequestFixture f;
  uint8_t key_req = 3;  // MSG_KEY_REQ
  f.write_gpa(kReq + 0x34, &key_req, 1);
  f.call(kExtGuestRequest, kReq, kRsp);
  f.vmgexit();
  EXPECT_EQ(f.psp.calls, 1) << "no RAX/RBX needed for other message types";
  EXPECT_EQ(f.read_gpa64(kData), ~uint64_t{0});
}

TEST(GhcbGuestRequest, FailuresThatAreNotTheFirmwaresFailKvmRun) {
  SnpGuestRequestFixture f;
  f.psp.issue = false;
  f.call(kGuestRequest, kReq, kRsp);
  ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  ASSERT_TRUE(o.kvm_run_error.has_value());
  EXPECT_EQ(*o.kvm_run_error, KvmErrno::kEio);
  f.vmctx.guest_requests = nullptr;  // no guest context
  o = f.vmgexit();
  ASSERT_TRUE(o.kvm_run_error.has_value());
  EXPECT_EQ(*o.kvm_run_error, KvmErrno::kEinval);
}

TEST(GhcbGuestRequest, SevEsGuestsCannotSendThem) {
  GhcbFixture f;  // SEV-ES: validate_vmgexit refuses SNP-only events
  Recorder psp;
  f.vmctx.guest_requests = &psp;
  f.call(kGuestRequest, kReq, kRsp);
  f.vmgexit();
  EXPECT_EQ(psp.calls, 0);
  EXPECT_EQ(f.info1(), 2u);
}

}  // namespace
}  // namespace snpemu::hv::test
