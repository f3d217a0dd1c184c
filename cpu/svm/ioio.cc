// cpu/svm/ioio.cc: exit_info_1 of an IOIO intercept. APM vol 2 15.10.2 (figure "EXITINFO1 for
// IOIO Intercept"); Linux asm/svm.h SVM_IOIO_*; PLATFORM-FACTS 5.1.
//   bit 0 TYPE (1 = IN), bit 2 STR, bit 3 REP, bits 6:4 SZ8/SZ16/SZ32 (one-hot),
//   bits 9:7 A16/A32/A64 (one-hot), bits 12:10 SEG, bits 31:16 port; others reserved.
#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

constexpr uint64_t kSzMask = ioio_bits::kSz8 | ioio_bits::kSz16 | ioio_bits::kSz32;
constexpr uint64_t kAMask = ioio_bits::kA16 | ioio_bits::kA32 | ioio_bits::kA64;
constexpr uint64_t kSegMask = uint64_t{7} << ioio_bits::kSegShift;
constexpr uint64_t kPortMask = uint64_t{0xFFFF} << ioio_bits::kPortShift;
constexpr uint64_t kDefined = ioio_bits::kTypeIn | ioio_bits::kStr | ioio_bits::kRep | kSzMask |
                              kAMask | kSegMask | kPortMask;

}  // namespace

std::expected<uint64_t, IoioError> encode_ioio(const IoioInfo& info) {
  uint64_t v = 0;
  switch (info.operand_size) {
    case 1:
      v |= ioio_bits::kSz8;
      break;
    case 2:
      v |= ioio_bits::kSz16;
      break;
    case 4:
      v |= ioio_bits::kSz32;
      break;
    default:
      return std::unexpected(IoioError::kBadOperandSize);
  }
  switch (info.address_size) {
    case 2:
      v |= ioio_bits::kA16;
      break;
    case 4:
      v |= ioio_bits::kA32;
      break;
    case 8:
      v |= ioio_bits::kA64;
      break;
    default:
      return std::unexpected(IoioError::kBadAddressSize);
  }
  if (static_cast<uint8_t>(info.segment) > static_cast<uint8_t>(SegReg::kGs)) {
    return std::unexpected(IoioError::kBadSegment);
  }
  if (info.type == IoType::kIn) v |= ioio_bits::kTypeIn;
  if (info.string) v |= ioio_bits::kStr;
  if (info.rep) v |= ioio_bits::kRep;
  // UNCONFIRMED: SEG is architecturally meaningful for OUTS (DS or an override); the encoder
  // writes whatever segment the core reports, and the core passes ES (0) for non-string forms.
  v |= uint64_t{static_cast<uint8_t>(info.segment)} << ioio_bits::kSegShift;
  v |= uint64_t{info.port} << ioio_bits::kPortShift;
  return v;
}

std::expected<IoioInfo, IoioError> decode_ioio(uint64_t e) {
  if ((e & ~kDefined) != 0) return std::unexpected(IoioError::kReservedBits);
  IoioInfo info;
  switch (e & kSzMask) {
    case ioio_bits::kSz8:
      info.operand_size = 1;
      break;
    case ioio_bits::kSz16:
      info.operand_size = 2;
      break;
    case ioio_bits::kSz32:
      info.operand_size = 4;
      break;
    default:
      return std::unexpected(IoioError::kBadOperandSize);
  }
  switch (e & kAMask) {
    case ioio_bits::kA16:
      info.address_size = 2;
      break;
    case ioio_bits::kA32:
      info.address_size = 4;
      break;
    case ioio_bits::kA64:
      info.address_size = 8;
      break;
    default:
      return std::unexpected(IoioError::kBadAddressSize);
  }
  const auto seg = static_cast<uint8_t>((e & kSegMask) >> ioio_bits::kSegShift);
  if (seg > static_cast<uint8_t>(SegReg::kGs)) return std::unexpected(IoioError::kBadSegment);
  info.segment = static_cast<SegReg>(seg);
  info.type = (e & ioio_bits::kTypeIn) != 0 ? IoType::kIn : IoType::kOut;
  info.string = (e & ioio_bits::kStr) != 0;
  info.rep = (e & ioio_bits::kRep) != 0;
  info.port = static_cast<uint16_t>((e & kPortMask) >> ioio_bits::kPortShift);
  return info;
}

std::expected<IoioExit, IoioError> make_ioio_exit(const IoioInfo& info, uint64_t next_rip) {
  auto e1 = encode_ioio(info);
  if (!e1) return std::unexpected(e1.error());
  // APM 15.10.2: EXITINFO2 holds the rIP of the instruction following the IN/OUT.
  return IoioExit{.exit_info_1 = *e1, .exit_info_2 = next_rip};
}

}  // namespace snpemu::svm
