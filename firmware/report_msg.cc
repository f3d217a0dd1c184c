// firmware/report_msg.cc: MSG_REPORT_REQ and MSG_REPORT_RSP payloads. PLATFORM-FACTS 8.6
// [L asm/sev.h snp_report_req / snp_report_resp].
#include <bit>
#include <cstring>
#include <type_traits>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<MsgReportReq>);
static_assert(std::is_trivially_copyable_v<MsgReportRsp>);

namespace {
constexpr size_t kRspHeaderSize = offsetof(MsgReportRsp, report);
}  // namespace

std::expected<MsgReportReq, FwError> parse_report_req(std::span<const uint8_t> payload) {
  if (payload.size() < sizeof(MsgReportReq)) {
    return std::unexpected(ossl::error(
        ErrorKind::kBadLength, Status::kInvalidParam,
        "MSG_REPORT_REQ payload is " + std::to_string(payload.size()) + " bytes, expected 96"));
  }
  MsgReportReq req;
  std::memcpy(&req, payload.data(), sizeof(req));
  if (req.vmpl > 3) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                    "MSG_REPORT_REQ vmpl " + std::to_string(req.vmpl) + " exceeds 3"));
  }
  return req;
}

std::array<uint8_t, sizeof(MsgReportReq)> serialize_report_req(const MsgReportReq& req) {
  std::array<uint8_t, sizeof(MsgReportReq)> out;
  std::memcpy(out.data(), &req, sizeof(req));
  return out;
}

std::vector<uint8_t> serialize_report_rsp(const MsgReportRsp& rsp) {
  // UNCONFIRMED: a failed request returns only the status part (Linux reads status first).
  size_t size = rsp.status == 0 ? sizeof(MsgReportRsp) : kRspHeaderSize;
  std::vector<uint8_t> out(size);
  std::memcpy(out.data(), &rsp, size);
  return out;
}

std::expected<MsgReportRsp, FwError> parse_report_rsp(std::span<const uint8_t> payload) {
  if (payload.size() < kRspHeaderSize) {
    return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidParam,
                                       "MSG_REPORT_RSP payload is " +
                                           std::to_string(payload.size()) +
                                           " bytes, shorter than its 32-byte header"));
  }
  MsgReportRsp rsp;
  std::memcpy(static_cast<void*>(&rsp), payload.data(), kRspHeaderSize);
  if (rsp.status != 0) return rsp;
  if (rsp.report_size != kReportSize || payload.size() < sizeof(MsgReportRsp)) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadLength, Status::kInvalidParam,
                    "MSG_REPORT_RSP report_size " + std::to_string(rsp.report_size) + " with " +
                        std::to_string(payload.size() - kRspHeaderSize) +
                        " report bytes, expected " + std::to_string(kReportSize)));
  }
  auto report = parse_report(payload.subspan(kRspHeaderSize, kReportSize));
  if (!report) return std::unexpected(report.error());
  rsp.report = *report;
  return rsp;
}

}  // namespace snpemu::fw
