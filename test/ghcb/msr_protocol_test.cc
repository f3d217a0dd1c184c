// Tests for the GHCB MSR protocol codecs (ghcb/msr_protocol.cc).
// Rules: PLATFORM-FACTS 1.1-1.9 [L] asm/sev-common.h, kvm/svm/sev.c
// sev_handle_vmgexit_msr_protocol.
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

constexpr MsrDecodePolicy kStrict{.reject_reserved_bits = true};

// PLATFORM-FACTS 1.2: every request round-trips through encode/decode under both policies.
TEST(MsrProtocol, RequestRoundTrips) {
  const std::vector<MsrRequest> reqs = {
      SevInfoRequest{},
      CpuidRequest{0x8000'001F, CpuidRegister::kEbx},
      CpuidRequest{0xFFFF'FFFF, CpuidRegister::kEdx},
      ApResetHoldRequest{},
      PrefGpaRequest{},
      RegGpaRequest{0xF'FFFF'FFFF'FFFF},
      RegGpaRequest{0x12345},
      PscMsrRequest{0xFF'FFFF'FFFF, 1},
      PscMsrRequest{0x42, 2},
      VmplRequest{3},
      HvFeaturesRequest{},
      TermRequest{1, 4},
      TermRequest{0xF, 0xFF},
  };
  for (const MsrRequest& r : reqs) {
    const uint64_t msr = encode_msr_request(r);
    for (MsrDecodePolicy p : {MsrDecodePolicy{}, kStrict}) {
      auto d = decode_msr_request(msr, p);
      ASSERT_TRUE(d.has_value()) << "msr " << std::hex << msr << ": " << d.error().what;
      EXPECT_EQ(*d, r) << "round trip of msr 0x" << std::hex << msr;
    }
  }
}

// PLATFORM-FACTS 1.2: exact bit positions, checked against hand-computed values.
TEST(MsrProtocol, RequestEncodingsMatchLayout) {
  EXPECT_EQ(encode_msr_request(SevInfoRequest{}), 0x002u);
  // CPUID: function 63:32, register 31:30, code 0x004.
  EXPECT_EQ(encode_msr_request(CpuidRequest{0x8000'001F, CpuidRegister::kEbx}),
            0x8000'001F'4000'0004u);
  // PSC: op 55:52, GFN 51:12, code 0x014.
  EXPECT_EQ(encode_msr_request(PscMsrRequest{0x12345, 2}), 0x0020'0000'1234'5014u);
  // VMPL: 39:32.
  EXPECT_EQ(encode_msr_request(VmplRequest{2}), 0x0000'0002'0000'0016u);
  // TERM: set 15:12, code 23:16.
  EXPECT_EQ(encode_msr_request(TermRequest{1, 4}), 0x0004'1100u);
  EXPECT_EQ(encode_msr_request(RegGpaRequest{0xABCDE}), 0xABCD'E012u);
  EXPECT_EQ(encode_msr_request(HvFeaturesRequest{}), 0x080u);
  // Fields wider than their slot are masked, never spilled into neighbours.
  EXPECT_EQ(encode_msr_request(PscMsrRequest{uint64_t{1} << 40, 0x1F}), 0x00F0'0000'0000'0014u);
  EXPECT_EQ(encode_msr_request(TermRequest{0x1F, 0}), 0xF100u);
}

// PLATFORM-FACTS 1.2/1.3/1.5: responses round-trip; SEV_INFO for max 2, min 1, C-bit 51.
TEST(MsrProtocol, ResponseRoundTripsAndLayout) {
  EXPECT_EQ(encode_msr_response(SevInfoResponse{2, 1, 51}), 0x0002'0001'3300'0001u);
  EXPECT_EQ(encode_msr_response(CpuidResponse{0xDEAD'BEEF, CpuidRegister::kEcx}),
            0xDEAD'BEEF'8000'0005u);
  EXPECT_EQ(encode_msr_response(PrefGpaResponse{}), 0xFFFF'FFFF'FFFF'F011u);
  EXPECT_EQ(encode_msr_response(ApResetHoldResponse{1}), 0x1007u);
  EXPECT_EQ(encode_msr_response(PscMsrResponse{0x8000'0000}), kMsrPscRespError);
  EXPECT_EQ(kMsrPscRespError, 0x8000'0000'0000'0015u);
  const std::vector<MsrResponse> resps = {
      SevInfoResponse{2, 1, 51}, CpuidResponse{7, CpuidRegister::kEdx},
      ApResetHoldResponse{0},    ApResetHoldResponse{1},
      PrefGpaResponse{},         RegGpaResponse{0x1234},
      PscMsrResponse{0},         PscMsrResponse{0x8000'0000},
      VmplResponse{5},           HvFeaturesResponse{0x3},
  };
  for (const MsrResponse& r : resps) {
    const uint64_t msr = encode_msr_response(r);
    for (MsrDecodePolicy p : {MsrDecodePolicy{}, kStrict}) {
      auto d = decode_msr_response(msr, p);
      ASSERT_TRUE(d.has_value()) << "msr 0x" << std::hex << msr;
      EXPECT_EQ(*d, r) << "round trip of response 0x" << std::hex << msr;
    }
  }
}

// PLATFORM-FACTS 1.1: unknown GHCBInfo -> KVM leaves the MSR unchanged; exactly the nine
// request codes of 1.2 decode as requests.
TEST(MsrProtocol, OnlyTheNineRequestCodesDecode) {
  const std::set<uint16_t> requests = {0x002, 0x004, 0x006, 0x010, 0x012,
                                       0x014, 0x016, 0x080, 0x100};
  for (uint16_t code = 0; code <= 0xFFF; ++code) {
    const uint64_t msr = (uint64_t{0x1} << 52) | (uint64_t{1} << 32) | code;  // op 1 for PSC
    auto d = decode_msr_request(msr);
    if (requests.count(code)) {
      EXPECT_TRUE(d.has_value()) << "code 0x" << std::hex << code << " should decode";
    } else {
      ASSERT_FALSE(d.has_value()) << "code 0x" << std::hex << code << " should not decode";
      EXPECT_EQ(d.error().kind, GhcbErrorKind::kMsrUnknownCode);
      EXPECT_EQ(d.error().code, msr) << "unknown code must leave the MSR value as is";
    }
  }
}

struct ReservedCase {
  uint64_t base;      // a valid request
  uint64_t reserved;  // its must-be-zero bits under the strict policy
  uint64_t strict_answer;  // kMsrMalformed code: the MSR answer (0 = the value itself)
};

// KVM masks fields and never rejects reserved bits (sev_handle_vmgexit_msr_protocol); the strict
// policy rejects each must-be-zero bit of PLATFORM-FACTS 1.2 individually.
TEST(MsrProtocol, EveryReservedBitRejectedOnlyUnderStrictPolicy) {
  auto bits = [](unsigned hi, unsigned lo) {
    uint64_t m = 0;
    for (unsigned b = lo; b <= hi; ++b) m |= uint64_t{1} << b;
    return m;
  };
  const ReservedCase cases[] = {
      {0x002, bits(63, 12), 0},
      {encode_msr_request(CpuidRequest{1, CpuidRegister::kEax}), bits(29, 12), 0},
      {0x006, bits(63, 12), 0},
      {0x010, bits(63, 12), 0},
      {encode_msr_request(PscMsrRequest{5, 1}), bits(63, 56), kMsrPscRespError},
      {encode_msr_request(VmplRequest{1}), bits(63, 40) | bits(31, 12), 0},
      {0x080, bits(63, 12), 0},
      {encode_msr_request(TermRequest{1, 2}), bits(63, 24), 0},
  };
  for (const ReservedCase& c : cases) {
    const auto kvm_value = decode_msr_request(c.base);
    ASSERT_TRUE(kvm_value.has_value());
    for (unsigned b = 0; b < 64; ++b) {
      const uint64_t bit = uint64_t{1} << b;
      if (!(c.reserved & bit)) continue;
      const uint64_t msr = c.base | bit;
      auto kvm = decode_msr_request(msr);
      ASSERT_TRUE(kvm.has_value()) << "KVM policy must mask bit " << b << " of 0x" << std::hex
                                   << c.base;
      EXPECT_EQ(*kvm, *kvm_value) << "reserved bit " << b << " changed the decoded fields";
      auto strict = decode_msr_request(msr, kStrict);
      ASSERT_FALSE(strict.has_value()) << "strict policy must reject bit " << b << " of 0x"
                                       << std::hex << c.base;
      EXPECT_EQ(strict.error().kind, GhcbErrorKind::kMsrMalformed);
      EXPECT_EQ(strict.error().code, c.strict_answer ? c.strict_answer : msr);
    }
  }
  // REG_GPA has no reserved bits: every data bit is the GFN (GENMASK(51,0) << 12).
  auto reg = decode_msr_request(~uint64_t{0xFFF} | 0x012, kStrict);
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(std::get<RegGpaRequest>(*reg).gfn, 0xF'FFFF'FFFF'FFFFu);
}

// Strict response checks: SEV_INFO 23:12, PSC_RESP/VMPL_RESP 31:12.
TEST(MsrProtocol, ReservedResponseBits) {
  EXPECT_TRUE(decode_msr_response(0x0002'0001'3300'1001).has_value());
  EXPECT_FALSE(decode_msr_response(0x0002'0001'3300'1001, kStrict).has_value());
  EXPECT_FALSE(decode_msr_response(0x0000'0000'0000'1015, kStrict).has_value());
  EXPECT_FALSE(decode_msr_response(0x0000'0000'8000'0017, kStrict).has_value());
  // CPUID_RESP bits 29:12 are the request's, echoed by KVM: accepted even when strict.
  EXPECT_TRUE(decode_msr_response(0x1'3FFF'F005, kStrict).has_value());
}

// PLATFORM-FACTS 1.9 step 2: KVM answers GHCB_MSR_PSC_RESP_ERROR unless op is 1 or 2. The KVM
// policy decodes the raw op so the hypervisor can run the SNP check first.
TEST(MsrProtocol, PscOperationCheck) {
  for (uint8_t op = 0; op < 16; ++op) {
    const uint64_t msr = encode_msr_request(PscMsrRequest{0x100, op});
    auto kvm = decode_msr_request(msr);
    ASSERT_TRUE(kvm.has_value()) << "op " << int(op);
    const auto& req = std::get<PscMsrRequest>(*kvm);
    EXPECT_EQ(req.operation, op);
    EXPECT_EQ(req.gfn, 0x100u);
    const bool supported = op == 1 || op == 2;
    EXPECT_EQ(psc_msr_operation_supported(req), supported) << "op " << int(op);
    auto strict = decode_msr_request(msr, kStrict);
    EXPECT_EQ(strict.has_value(), supported) << "op " << int(op);
    if (!supported) {
      EXPECT_EQ(strict.error().code, kMsrPscRespError);
    }
  }
}

// PLATFORM-FACTS 1.2 CPUID_RESP: KVM keeps request bits 31:12 and rewrites 11:0.
TEST(MsrProtocol, KvmCpuidResponseKeepsRequestBits) {
  const uint64_t req = 0x0000'000D'C001'2004;  // function 0xD, reg EDX, junk in 29:12
  const uint64_t resp = kvm_cpuid_msr_response(req, 0x1234'5678);
  EXPECT_EQ(resp, 0x1234'5678'C001'2005u);
  auto d = decode_msr_response(resp);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(std::get<CpuidResponse>(*d), (CpuidResponse{0x1234'5678, CpuidRegister::kEdx}));
}

// Seeded property: under the strict policy an accepted value re-encodes to exactly itself (no
// data bit is lost or invented); under KVM's policy decode(encode(decode(x))) == decode(x).
TEST(MsrProtocol, SeededRoundTripProperties) {
  constexpr uint64_t kSeed = 0x6C0B'0001;  // printed in every failure message
  std::mt19937_64 rng(kSeed);
  const uint16_t codes[] = {0x001, 0x002, 0x004, 0x005, 0x006, 0x007, 0x010, 0x011, 0x012,
                            0x013, 0x014, 0x015, 0x016, 0x017, 0x080, 0x081, 0x100};
  for (int i = 0; i < 200000; ++i) {
    uint64_t msr = rng();
    if (i % 4 != 0) msr &= rng();  // sparser values pass the strict checks more often
    msr = (msr & ~kMsrInfoMask) | codes[rng() % std::size(codes)];
    if (auto strict = decode_msr_request(msr, kStrict)) {
      EXPECT_EQ(encode_msr_request(*strict), msr) << "seed 0x" << std::hex << kSeed << " msr 0x"
                                                  << msr;
    }
    if (auto kvm = decode_msr_request(msr)) {
      auto again = decode_msr_request(encode_msr_request(*kvm));
      ASSERT_TRUE(again.has_value()) << "seed 0x" << std::hex << kSeed << " msr 0x" << msr;
      EXPECT_EQ(*again, *kvm) << "seed 0x" << std::hex << kSeed << " msr 0x" << msr;
    }
    // CPUID_RESP bits 29:12 are an echo the typed value does not keep: not exact.
    if (auto strict = decode_msr_response(msr, kStrict); strict && msr_info(msr) != 0x005) {
      EXPECT_EQ(encode_msr_response(*strict), msr) << "seed 0x" << std::hex << kSeed
                                                   << " response 0x" << msr;
    }
  }
}

TEST(MsrProtocol, CodeNames) {
  EXPECT_EQ(msr_code_name(0x004), "CPUID_REQ");
  EXPECT_EQ(msr_code_name(0x100), "TERM_REQ");
  EXPECT_EQ(msr_code_name(0x003), "UNKNOWN");
  EXPECT_EQ(msr_info(0xFFFF'0123), 0x123);
}

}  // namespace
}  // namespace snpemu::ghcb
