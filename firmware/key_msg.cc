// firmware/key_msg.cc: MSG_KEY_REQ / MSG_KEY_RSP and the model's derived guest keys.
// Layout [L include/uapi/linux/sev-guest.h]; field semantics from the SNP ABI (UNCONFIRMED where
// tagged in firmware.h). The derivation is the model's own (documented in firmware.h).
#include <bit>
#include <cstring>
#include <type_traits>
#include <vector>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<MsgKeyReq>);
static_assert(std::is_trivially_copyable_v<MsgKeyRsp>);

namespace {

constexpr uint64_t kKnownFields = (uint64_t{1} << 6) - 1;

template <class T>
void append(std::vector<uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

FwError key_error(Status status, std::string message) {
  return ossl::error(ErrorKind::kBadField, status, std::move(message));
}

}  // namespace

std::expected<MsgKeyReq, FwError> parse_key_req(std::span<const uint8_t> payload) {
  if (payload.size() < sizeof(MsgKeyReq)) {
    return std::unexpected(ossl::error(
        ErrorKind::kBadLength, Status::kInvalidParam,
        "MSG_KEY_REQ payload is " + std::to_string(payload.size()) + " bytes, expected 32"));
  }
  MsgKeyReq req;
  std::memcpy(&req, payload.data(), sizeof(req));
  if (req.vmpl > 3) {
    return std::unexpected(key_error(
        Status::kInvalidParam, "MSG_KEY_REQ vmpl " + std::to_string(req.vmpl) + " exceeds 3"));
  }
  if ((req.root_key_select & ~uint32_t{7}) != 0 || req.rsvd != 0 ||
      (req.guest_field_select & ~kKnownFields) != 0) {
    return std::unexpected(key_error(Status::kInvalidParam, "MSG_KEY_REQ reserved bits set"));
  }
  return req;
}

std::array<uint8_t, sizeof(MsgKeyReq)> serialize_key_req(const MsgKeyReq& req) {
  std::array<uint8_t, sizeof(MsgKeyReq)> out;
  std::memcpy(out.data(), &req, sizeof(req));
  return out;
}

std::array<uint8_t, sizeof(MsgKeyRsp)> serialize_key_rsp(const MsgKeyRsp& rsp) {
  std::array<uint8_t, sizeof(MsgKeyRsp)> out;
  std::memcpy(out.data(), &rsp, sizeof(rsp));
  return out;
}

std::expected<MsgKeyRsp, FwError> parse_key_rsp(std::span<const uint8_t> payload) {
  if (payload.size() < sizeof(MsgKeyRsp)) {
    return std::unexpected(ossl::error(
        ErrorKind::kBadLength, Status::kInvalidParam,
        "MSG_KEY_RSP payload is " + std::to_string(payload.size()) + " bytes, expected 64"));
  }
  MsgKeyRsp rsp;
  std::memcpy(static_cast<void*>(&rsp), payload.data(), sizeof(rsp));
  return rsp;
}

std::expected<std::array<uint8_t, 32>, FwError> derive_guest_key(
    std::span<const uint8_t> platform_seed, const MsgKeyReq& req, const KeyInputs& inputs,
    Vmpl key_vmpl) {
  if (platform_seed.size() < ModelVcek::kMinSeedSize) {
    return std::unexpected(ossl::error(
        ErrorKind::kBadLength, Status::kInvalidParam,
        "platform seed shorter than " + std::to_string(ModelVcek::kMinSeedSize) + " bytes"));
  }
  if (req.vmpl > 3 || req.vmpl < key_vmpl.value) {
    return std::unexpected(
        key_error(Status::kInvalidParam, "key requested for VMPL " + std::to_string(req.vmpl) +
                                             " under VMPCK" + std::to_string(key_vmpl.value)));
  }
  if (req.guest_svn > inputs.guest_svn) {
    return std::unexpected(key_error(
        Status::kInvalidParam, "requested GUEST_SVN " + std::to_string(req.guest_svn) +
                                   " exceeds the guest's " + std::to_string(inputs.guest_svn)));
  }
  const TcbVersion want = decode_tcb(req.tcb_version, TcbLayout::kMilanGenoa);
  const TcbVersion have = decode_tcb(inputs.current_tcb, TcbLayout::kMilanGenoa);
  if (want.boot_loader > have.boot_loader || want.tee > have.tee || want.snp > have.snp ||
      want.microcode > have.microcode) {
    return std::unexpected(key_error(Status::kInvalidParam,
                                     "requested TCB_VERSION " + hex(req.tcb_version) +
                                         " exceeds the current " + hex(inputs.current_tcb)));
  }
  const bool vmrk = req.root_key_select & 1;
  const uint32_t key_sel = (req.root_key_select >> 1) & 3;
  if ((vmrk && !inputs.has_vmrk) || key_sel >= 2) {
    return std::unexpected(
        key_error(Status::kInvalidKey,
                  vmrk ? "VMRK requested but none is installed"
                       : "KEY_SEL " + std::to_string(key_sel) + " (VLEK) is not modelled"));
  }
  std::vector<uint8_t> info = {'K', 'E', 'Y', ' ', 'v', '1'};
  MsgKeyReq canon = req;
  if (!(req.guest_field_select & kKeyFieldGuestSvn)) canon.guest_svn = 0;
  if (!(req.guest_field_select & kKeyFieldTcbVersion)) canon.tcb_version = 0;
  append(info, canon);
  const uint64_t f = req.guest_field_select;
  if (f & kKeyFieldPolicy) append(info, inputs.policy);
  if (f & kKeyFieldImageId) append(info, inputs.image_id);
  if (f & kKeyFieldFamilyId) append(info, inputs.family_id);
  if (f & kKeyFieldMeasurement) append(info, inputs.measurement);
  std::array<uint8_t, 32> key{};
  if (auto r = ossl::hkdf_sha384(platform_seed, ossl::bytes_of("snpemu derived key"), info, key);
      !r) {
    return std::unexpected(r.error());
  }
  return key;
}

}  // namespace snpemu::fw
