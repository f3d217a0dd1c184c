// firmware/guest_msg.cc: SNP_GUEST_REQUEST message crypto: header codec, AES-256-GCM seal/open,
// and the firmware's per-VMPCK sequence numbers. PLATFORM-FACTS 8.7 [L asm/sev.h, sev-guest].
#include <openssl/evp.h>

#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {
namespace {

static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<GuestMsgHeader>);

constexpr size_t kAadOffset = 0x30;  // AAD = header bytes 0x30-0x5F
constexpr size_t kTagSize = 16;

// UNCONFIRMED: the firmware status for a malformed, unauthentic or out-of-sequence request is not
// in our sources; INVALID_PARAM is used for all three (the error kind keeps them apart).
FwError msg_error(ErrorKind kind, std::string message) {
  return ossl::error(kind, Status::kInvalidParam, std::move(message));
}

std::array<uint8_t, 12> iv_of(uint64_t seqno) {
  std::array<uint8_t, 12> iv{};  // msg_seqno little-endian, zero-extended
  std::memcpy(iv.data(), &seqno, sizeof(seqno));
  return iv;
}

}  // namespace

std::expected<std::vector<uint8_t>, FwError> seal_message(const Vmpck& key, MsgType type,
                                                          uint8_t msg_version, uint64_t seqno,
                                                          uint8_t msg_vmpck,
                                                          std::span<const uint8_t> payload) {
  if (payload.size() > kMaxMsgPayload) {
    return std::unexpected(
        msg_error(ErrorKind::kBadLength, "message payload is " + std::to_string(payload.size()) +
                                             " bytes, at most " + std::to_string(kMaxMsgPayload)));
  }
  if (msg_vmpck > 3) {
    return std::unexpected(
        msg_error(ErrorKind::kBadField, "msg_vmpck " + std::to_string(msg_vmpck) + " exceeds 3"));
  }
  if (seqno == 0) {
    return std::unexpected(msg_error(ErrorKind::kBadSequence, "msg_seqno 0 is never valid"));
  }
  GuestMsgHeader hdr;
  hdr.msg_seqno = seqno;
  hdr.msg_type = static_cast<uint8_t>(type);
  hdr.msg_version = msg_version;
  hdr.msg_sz = static_cast<uint16_t>(payload.size());
  hdr.msg_vmpck = msg_vmpck;
  std::vector<uint8_t> out(kMsgHeaderSize + payload.size());
  std::memcpy(out.data(), &hdr, kMsgHeaderSize);

  auto iv = iv_of(seqno);
  ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, out.data() + kAadOffset,
                        static_cast<int>(kMsgHeaderSize - kAadOffset)) != 1 ||
      (!payload.empty() &&
       EVP_EncryptUpdate(ctx.get(), out.data() + kMsgHeaderSize, &len, payload.data(),
                         static_cast<int>(payload.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + out.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out.data()) != 1) {
    return std::unexpected(ossl::crypto_error("AES-256-GCM encrypt"));
  }
  return out;
}

std::expected<GuestMsgHeader, FwError> parse_msg_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMsgHeaderSize) {
    return std::unexpected(
        msg_error(ErrorKind::kBadLength, "guest message is " + std::to_string(bytes.size()) +
                                             " bytes, shorter than its 96-byte header"));
  }
  GuestMsgHeader hdr;
  std::memcpy(&hdr, bytes.data(), kMsgHeaderSize);
  if (hdr.algo != kMsgAlgoAes256Gcm) {
    return std::unexpected(
        msg_error(ErrorKind::kBadAlgorithm,
                  "message algo " + std::to_string(hdr.algo) + ", expected 1 (AES-256-GCM)"));
  }
  if (hdr.hdr_version != kMsgHdrVersion) {
    return std::unexpected(
        msg_error(ErrorKind::kBadVersion,
                  "message hdr_version " + std::to_string(hdr.hdr_version) + ", expected 1"));
  }
  if (hdr.hdr_sz != kMsgHeaderSize) {
    return std::unexpected(msg_error(
        ErrorKind::kBadField, "message hdr_sz " + std::to_string(hdr.hdr_sz) + ", expected 96"));
  }
  if (hdr.msg_sz > kMaxMsgPayload || hdr.msg_sz > bytes.size() - kMsgHeaderSize) {
    return std::unexpected(msg_error(
        ErrorKind::kBadLength, "message msg_sz " + std::to_string(hdr.msg_sz) + " exceeds the " +
                                   std::to_string(bytes.size() - kMsgHeaderSize) +
                                   " payload bytes present (at most " +
                                   std::to_string(kMaxMsgPayload) + ")"));
  }
  if (hdr.msg_vmpck > 3) {
    return std::unexpected(msg_error(ErrorKind::kBadField,
                                     "msg_vmpck " + std::to_string(hdr.msg_vmpck) + " exceeds 3"));
  }
  return hdr;
}

std::expected<GuestMessage, FwError> open_message(const Vmpck& key,
                                                  std::span<const uint8_t> bytes) {
  auto hdr = parse_msg_header(bytes);
  if (!hdr) return std::unexpected(hdr.error());
  GuestMessage msg{*hdr, std::vector<uint8_t>(hdr->msg_sz)};
  auto iv = iv_of(hdr->msg_seqno);
  std::array<uint8_t, kTagSize> tag;
  std::memcpy(tag.data(), hdr->authtag.data(), kTagSize);
  ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes.data() + kAadOffset,
                        static_cast<int>(kMsgHeaderSize - kAadOffset)) != 1 ||
      (hdr->msg_sz != 0 && EVP_DecryptUpdate(ctx.get(), msg.payload.data(), &len,
                                             bytes.data() + kMsgHeaderSize, hdr->msg_sz) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1) {
    return std::unexpected(ossl::crypto_error("AES-256-GCM decrypt"));
  }
  if (EVP_DecryptFinal_ex(ctx.get(), msg.payload.data() + msg.payload.size(), &len) != 1) {
    return std::unexpected(msg_error(ErrorKind::kAuthFailed,
                                     "message with msg_seqno " + std::to_string(hdr->msg_seqno) +
                                         " fails AES-256-GCM authentication"));
  }
  return msg;
}

std::expected<GuestMessage, FwError> GuestChannel::open_request(std::span<const uint8_t> bytes) {
  auto hdr = parse_msg_header(bytes);
  if (!hdr) return std::unexpected(hdr.error());
  const uint8_t n = hdr->msg_vmpck;
  // The request and its response each take one number: the counter must leave room for both.
  if (counters_[n] > std::numeric_limits<uint64_t>::max() - 2) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadSequence, Status::kAeadOflow,
                    "VMPCK" + std::to_string(n) + " sequence number space exhausted"));
  }
  const uint64_t expected_seqno = counters_[n] + 1;
  if (hdr->msg_seqno != expected_seqno) {
    return std::unexpected(msg_error(ErrorKind::kBadSequence,
                                     "VMPCK" + std::to_string(n) + " request msg_seqno " +
                                         std::to_string(hdr->msg_seqno) + ", expected " +
                                         std::to_string(expected_seqno) +
                                         (hdr->msg_seqno <= counters_[n] ? " (replay)" : "")));
  }
  auto msg = open_message(vmpcks_[n], bytes);
  if (!msg) return std::unexpected(msg.error());
  counters_[n] += 2;  // request seqno and the response's seqno are now used
  return msg;
}

std::expected<std::vector<uint8_t>, FwError> GuestChannel::seal_response(
    const GuestMsgHeader& request, std::span<const uint8_t> payload) {
  const uint8_t n = request.msg_vmpck;
  if (n > 3 || request.msg_seqno == std::numeric_limits<uint64_t>::max() ||
      request.msg_seqno + 1 != counters_[n]) {
    return std::unexpected(msg_error(ErrorKind::kBadSequence,
                                     "response to msg_seqno " + std::to_string(request.msg_seqno) +
                                         " is not for the last opened request"));
  }
  // Response: seqno + 1, type + 1, same msg_version and VMPCK. PLATFORM-FACTS 8.7.
  return seal_message(vmpcks_[n], static_cast<MsgType>(request.msg_type + 1), request.msg_version,
                      request.msg_seqno + 1, n, payload);
}

}  // namespace snpemu::fw
