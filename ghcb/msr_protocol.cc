// ghcb/msr_protocol.cc: GHCB MSR protocol requests and responses.
// Layouts: PLATFORM-FACTS 1.2 [L] arch/x86/include/asm/sev-common.h. KVM's decoding masks every
// field and checks no reserved bit [L] arch/x86/kvm/svm/sev.c sev_handle_vmgexit_msr_protocol.
#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

constexpr uint64_t bits(unsigned hi, unsigned lo) {
  return (hi >= 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi + 1)) - 1)) & ~((uint64_t{1} << lo) - 1);
}
constexpr uint64_t field(uint64_t v, unsigned hi, unsigned lo) { return (v & bits(hi, lo)) >> lo; }
constexpr uint64_t place(uint64_t v, unsigned hi, unsigned lo) { return (v << lo) & bits(hi, lo); }

constexpr uint64_t kData = bits(63, 12);

// Must-be-zero bits of each request under the strict policy (every bit PLATFORM-FACTS 1.2 does
// not name). UNCONFIRMED: derived from the field layout, not from the GHCB spec text.
constexpr uint64_t kCpuidReqReserved = bits(29, 12);
constexpr uint64_t kPscReqReserved = bits(63, 56);
constexpr uint64_t kVmplReqReserved = bits(63, 40) | bits(31, 12);
constexpr uint64_t kTermReqReserved = bits(63, 24);
constexpr uint64_t kSevInfoRespReserved = bits(23, 12);
constexpr uint64_t kWordRespReserved = bits(31, 12);  // PSC_RESP, VMPL_RESP

GhcbError unknown_code(uint64_t msr) {
  // KVM: "Error, keep GHCB MSR value as-is" and resume [L] sev.c default case.
  return {GhcbErrorKind::kMsrUnknownCode, msr, "unknown GHCB MSR protocol code"};
}

// Under the strict policy, a set must-be-zero bit is answered with `answer`.
std::optional<GhcbError> reserved_error(uint64_t msr, uint64_t reserved, MsrDecodePolicy p,
                                        uint64_t answer) {
  if (p.reject_reserved_bits && (msr & reserved) != 0) {
    return GhcbError{GhcbErrorKind::kMsrMalformed, answer, "reserved GHCB MSR bits set"};
  }
  return std::nullopt;
}

template <class T>
std::expected<MsrRequest, GhcbError> no_data_request(uint64_t msr, MsrDecodePolicy p) {
  if (auto e = reserved_error(msr, kData, p, msr)) return std::unexpected(*e);
  return T{};
}

std::expected<MsrRequest, GhcbError> decode_cpuid(uint64_t msr, MsrDecodePolicy p) {
  if (auto e = reserved_error(msr, kCpuidReqReserved, p, msr)) return std::unexpected(*e);
  return CpuidRequest{static_cast<uint32_t>(field(msr, 63, 32)),
                      static_cast<CpuidRegister>(field(msr, 31, 30))};
}

std::expected<MsrRequest, GhcbError> decode_psc(uint64_t msr, MsrDecodePolicy p) {
  if (auto e = reserved_error(msr, kPscReqReserved, p, kMsrPscRespError)) {
    return std::unexpected(*e);
  }
  PscMsrRequest req{field(msr, 51, 12), static_cast<uint8_t>(field(msr, 55, 52))};
  if (p.reject_reserved_bits && !psc_msr_operation_supported(req)) {
    return std::unexpected(GhcbError{GhcbErrorKind::kMsrMalformed, kMsrPscRespError,
                                     "PSC operation not 1 or 2 over the MSR protocol"});
  }
  return req;
}

std::expected<MsrRequest, GhcbError> decode_vmpl(uint64_t msr, MsrDecodePolicy p) {
  if (auto e = reserved_error(msr, kVmplReqReserved, p, msr)) return std::unexpected(*e);
  return VmplRequest{static_cast<uint8_t>(field(msr, 39, 32))};
}

std::expected<MsrRequest, GhcbError> decode_term(uint64_t msr, MsrDecodePolicy p) {
  if (auto e = reserved_error(msr, kTermReqReserved, p, msr)) return std::unexpected(*e);
  return TermRequest{static_cast<uint8_t>(field(msr, 15, 12)),
                     static_cast<uint8_t>(field(msr, 23, 16))};
}

struct RequestEncoder {
  uint64_t operator()(const SevInfoRequest&) const { return 0x002; }
  uint64_t operator()(const CpuidRequest& r) const {
    return place(r.function, 63, 32) | place(static_cast<uint64_t>(r.reg), 31, 30) | 0x004;
  }
  uint64_t operator()(const ApResetHoldRequest&) const { return 0x006; }
  uint64_t operator()(const PrefGpaRequest&) const { return 0x010; }
  uint64_t operator()(const RegGpaRequest& r) const { return place(r.gfn, 63, 12) | 0x012; }
  uint64_t operator()(const PscMsrRequest& r) const {
    return place(r.operation, 55, 52) | place(r.gfn, 51, 12) | 0x014;
  }
  uint64_t operator()(const VmplRequest& r) const { return place(r.vmpl, 39, 32) | 0x016; }
  uint64_t operator()(const HvFeaturesRequest&) const { return 0x080; }
  uint64_t operator()(const TermRequest& r) const {
    return place(r.reason_set, 15, 12) | place(r.reason_code, 23, 16) | 0x100;
  }
};

struct ResponseEncoder {
  uint64_t operator()(const SevInfoResponse& r) const {
    return place(r.max_protocol, 63, 48) | place(r.min_protocol, 47, 32) | place(r.c_bit, 31, 24) |
           0x001;
  }
  uint64_t operator()(const CpuidResponse& r) const {
    return place(r.value, 63, 32) | place(static_cast<uint64_t>(r.reg), 31, 30) | 0x005;
  }
  uint64_t operator()(const ApResetHoldResponse& r) const {
    return place(r.result, 63, 12) | 0x007;
  }
  uint64_t operator()(const PrefGpaResponse& r) const { return place(r.gfn, 63, 12) | 0x011; }
  uint64_t operator()(const RegGpaResponse& r) const { return place(r.gfn, 63, 12) | 0x013; }
  uint64_t operator()(const PscMsrResponse& r) const { return place(r.error, 63, 32) | 0x015; }
  uint64_t operator()(const VmplResponse& r) const { return place(r.result, 63, 32) | 0x017; }
  uint64_t operator()(const HvFeaturesResponse& r) const {
    return place(r.features, 63, 12) | 0x081;
  }
};

template <class T>
std::expected<MsrResponse, GhcbError> checked_response(uint64_t msr, uint64_t reserved,
                                                       MsrDecodePolicy p, T value) {
  if (auto e = reserved_error(msr, reserved, p, msr)) return std::unexpected(*e);
  return value;
}

}  // namespace

std::expected<MsrRequest, GhcbError> decode_msr_request(uint64_t msr, MsrDecodePolicy policy) {
  switch (static_cast<MsrCode>(msr_info(msr))) {
    case MsrCode::kSevInfoReq: return no_data_request<SevInfoRequest>(msr, policy);
    case MsrCode::kCpuidReq: return decode_cpuid(msr, policy);
    case MsrCode::kApResetHoldReq: return no_data_request<ApResetHoldRequest>(msr, policy);
    case MsrCode::kPrefGpaReq: return no_data_request<PrefGpaRequest>(msr, policy);
    case MsrCode::kRegGpaReq: return RegGpaRequest{field(msr, 63, 12)};  // no reserved bits
    case MsrCode::kPscReq: return decode_psc(msr, policy);
    case MsrCode::kVmplReq: return decode_vmpl(msr, policy);
    case MsrCode::kHvFtReq: return no_data_request<HvFeaturesRequest>(msr, policy);
    case MsrCode::kTermReq: return decode_term(msr, policy);
    default: return std::unexpected(unknown_code(msr));
  }
}

uint64_t encode_msr_request(const MsrRequest& req) { return std::visit(RequestEncoder{}, req); }

std::expected<MsrResponse, GhcbError> decode_msr_response(uint64_t msr, MsrDecodePolicy policy) {
  switch (static_cast<MsrCode>(msr_info(msr))) {
    case MsrCode::kSevInfoResp:
      return checked_response(msr, kSevInfoRespReserved, policy,
                              SevInfoResponse{static_cast<uint16_t>(field(msr, 63, 48)),
                                              static_cast<uint16_t>(field(msr, 47, 32)),
                                              static_cast<uint8_t>(field(msr, 31, 24))});
    case MsrCode::kCpuidResp:
      // Bits 29:12 are the request's, echoed by KVM: never checked.
      return CpuidResponse{static_cast<uint32_t>(field(msr, 63, 32)),
                           static_cast<CpuidRegister>(field(msr, 31, 30))};
    case MsrCode::kApResetHoldResp: return ApResetHoldResponse{field(msr, 63, 12)};
    case MsrCode::kPrefGpaResp: return PrefGpaResponse{field(msr, 63, 12)};
    case MsrCode::kRegGpaResp: return RegGpaResponse{field(msr, 63, 12)};
    case MsrCode::kPscResp:
      return checked_response(msr, kWordRespReserved, policy,
                              PscMsrResponse{static_cast<uint32_t>(field(msr, 63, 32))});
    case MsrCode::kVmplResp:
      return checked_response(msr, kWordRespReserved, policy,
                              VmplResponse{static_cast<uint32_t>(field(msr, 63, 32))});
    case MsrCode::kHvFtResp: return HvFeaturesResponse{field(msr, 63, 12)};
    default: return std::unexpected(unknown_code(msr));
  }
}

uint64_t encode_msr_response(const MsrResponse& resp) {
  return std::visit(ResponseEncoder{}, resp);
}

uint64_t kvm_cpuid_msr_response(uint64_t request_msr, uint32_t value) {
  // KVM sets GHCB_MSR_CPUID_VALUE (63:32) and GHCB_MSR_INFO (11:0); bits 31:12 stay [L].
  return place(value, 63, 32) | (request_msr & bits(31, 12)) | 0x005;
}

bool psc_msr_operation_supported(const PscMsrRequest& req) {
  return req.operation == static_cast<uint8_t>(PscOperation::kPrivate) ||
         req.operation == static_cast<uint8_t>(PscOperation::kShared);
}

std::string_view msr_code_name(uint16_t code) {
  switch (static_cast<MsrCode>(code)) {
    case MsrCode::kSevInfoResp: return "SEV_INFO_RESP";
    case MsrCode::kSevInfoReq: return "SEV_INFO_REQ";
    case MsrCode::kCpuidReq: return "CPUID_REQ";
    case MsrCode::kCpuidResp: return "CPUID_RESP";
    case MsrCode::kApResetHoldReq: return "AP_RESET_HOLD_REQ";
    case MsrCode::kApResetHoldResp: return "AP_RESET_HOLD_RESP";
    case MsrCode::kPrefGpaReq: return "PREF_GPA_REQ";
    case MsrCode::kPrefGpaResp: return "PREF_GPA_RESP";
    case MsrCode::kRegGpaReq: return "REG_GPA_REQ";
    case MsrCode::kRegGpaResp: return "REG_GPA_RESP";
    case MsrCode::kPscReq: return "PSC_REQ";
    case MsrCode::kPscResp: return "PSC_RESP";
    case MsrCode::kVmplReq: return "VMPL_REQ";
    case MsrCode::kVmplResp: return "VMPL_RESP";
    case MsrCode::kHvFtReq: return "HV_FT_REQ";
    case MsrCode::kHvFtResp: return "HV_FT_RESP";
    case MsrCode::kTermReq: return "TERM_REQ";
  }
  return "UNKNOWN";
}

}  // namespace snpemu::ghcb
