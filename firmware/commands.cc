// firmware/commands.cc: command ids and command buffers. Offsets: PLATFORM-FACTS 8.1-8.2
// [L include/linux/psp-sev.h sev_data_snp_*]. Reserved-field checks are UNCONFIRMED: the SNP ABI
// says reserved fields must be zero; which status the firmware returns is not in our sources, so
// INVALID_PARAM is used (INVALID_ADDRESS for misaligned addresses).
#include <cstring>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {
namespace {

template <class T>
T load(std::span<const uint8_t> b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));  // little-endian host (static_asserted elsewhere)
  return v;
}
template <class T>
void store(std::vector<uint8_t>& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof(T));
}
constexpr bool bit(uint64_t v, int n) { return (v >> n) & 1; }

std::expected<void, FwError> need(std::span<const uint8_t> buf, size_t size, const char* what) {
  if (buf.size() >= size) return {};
  return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidLength,
                                     std::string(what) + " buffer is " +
                                         std::to_string(buf.size()) + " bytes, expected " +
                                         std::to_string(size)));
}
FwError reserved(const char* what, uint64_t value) {
  return ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                     std::string(what) + " has reserved bits set: " + hex(value));
}
FwError misaligned(const char* what, uint64_t addr) {
  return ossl::error(ErrorKind::kBadField, Status::kInvalidAddress,
                     std::string(what) + " address " + hex(addr) + " is not aligned");
}

}  // namespace

std::string_view command_name(CommandId id) {
  switch (id) {
    case CommandId::kInit:
      return "INIT";
    case CommandId::kShutdown:
      return "SHUTDOWN";
    case CommandId::kFactoryReset:
      return "FACTORY_RESET";
    case CommandId::kPlatformStatus:
      return "PLATFORM_STATUS";
    case CommandId::kPekGen:
      return "PEK_GEN";
    case CommandId::kPekCsr:
      return "PEK_CSR";
    case CommandId::kPekCertImport:
      return "PEK_CERT_IMPORT";
    case CommandId::kPdhCertExport:
      return "PDH_CERT_EXPORT";
    case CommandId::kPdhGen:
      return "PDH_GEN";
    case CommandId::kDfFlush:
      return "DF_FLUSH";
    case CommandId::kDownloadFirmware:
      return "DOWNLOAD_FIRMWARE";
    case CommandId::kGetId:
      return "GET_ID";
    case CommandId::kInitEx:
      return "INIT_EX";
    case CommandId::kDecommission:
      return "DECOMMISSION";
    case CommandId::kActivate:
      return "ACTIVATE";
    case CommandId::kDeactivate:
      return "DEACTIVATE";
    case CommandId::kGuestStatus:
      return "GUEST_STATUS";
    case CommandId::kLaunchStart:
      return "LAUNCH_START";
    case CommandId::kLaunchUpdateData:
      return "LAUNCH_UPDATE_DATA";
    case CommandId::kLaunchUpdateVmsa:
      return "LAUNCH_UPDATE_VMSA";
    case CommandId::kLaunchMeasure:
      return "LAUNCH_MEASURE";
    case CommandId::kLaunchUpdateSecret:
      return "LAUNCH_UPDATE_SECRET";
    case CommandId::kLaunchFinish:
      return "LAUNCH_FINISH";
    case CommandId::kAttestationReport:
      return "ATTESTATION_REPORT";
    case CommandId::kSendStart:
      return "SEND_START";
    case CommandId::kSendUpdateData:
      return "SEND_UPDATE_DATA";
    case CommandId::kSendUpdateVmsa:
      return "SEND_UPDATE_VMSA";
    case CommandId::kSendFinish:
      return "SEND_FINISH";
    case CommandId::kSendCancel:
      return "SEND_CANCEL";
    case CommandId::kReceiveStart:
      return "RECEIVE_START";
    case CommandId::kReceiveUpdateData:
      return "RECEIVE_UPDATE_DATA";
    case CommandId::kReceiveUpdateVmsa:
      return "RECEIVE_UPDATE_VMSA";
    case CommandId::kReceiveFinish:
      return "RECEIVE_FINISH";
    case CommandId::kDbgDecrypt:
      return "DBG_DECRYPT";
    case CommandId::kDbgEncrypt:
      return "DBG_ENCRYPT";
    case CommandId::kSnpInit:
      return "SNP_INIT";
    case CommandId::kSnpShutdown:
      return "SNP_SHUTDOWN";
    case CommandId::kSnpPlatformStatus:
      return "SNP_PLATFORM_STATUS";
    case CommandId::kSnpDfFlush:
      return "SNP_DF_FLUSH";
    case CommandId::kSnpInitEx:
      return "SNP_INIT_EX";
    case CommandId::kSnpShutdownEx:
      return "SNP_SHUTDOWN_EX";
    case CommandId::kSnpDecommission:
      return "SNP_DECOMMISSION";
    case CommandId::kSnpActivate:
      return "SNP_ACTIVATE";
    case CommandId::kSnpGuestStatus:
      return "SNP_GUEST_STATUS";
    case CommandId::kSnpGctxCreate:
      return "SNP_GCTX_CREATE";
    case CommandId::kSnpGuestRequest:
      return "SNP_GUEST_REQUEST";
    case CommandId::kSnpActivateEx:
      return "SNP_ACTIVATE_EX";
    case CommandId::kSnpLaunchStart:
      return "SNP_LAUNCH_START";
    case CommandId::kSnpLaunchUpdate:
      return "SNP_LAUNCH_UPDATE";
    case CommandId::kSnpLaunchFinish:
      return "SNP_LAUNCH_FINISH";
    case CommandId::kSnpDbgDecrypt:
      return "SNP_DBG_DECRYPT";
    case CommandId::kSnpDbgEncrypt:
      return "SNP_DBG_ENCRYPT";
    case CommandId::kSnpPageSwapOut:
      return "SNP_PAGE_SWAP_OUT";
    case CommandId::kSnpPageSwapIn:
      return "SNP_PAGE_SWAP_IN";
    case CommandId::kSnpPageMove:
      return "SNP_PAGE_MOVE";
    case CommandId::kSnpPageMdInit:
      return "SNP_PAGE_MD_INIT";
    case CommandId::kSnpPageSetState:
      return "SNP_PAGE_SET_STATE";
    case CommandId::kSnpPageReclaim:
      return "SNP_PAGE_RECLAIM";
    case CommandId::kSnpPageUnsmash:
      return "SNP_PAGE_UNSMASH";
    case CommandId::kSnpConfig:
      return "SNP_CONFIG";
    case CommandId::kSnpDownloadFirmwareEx:
      return "SNP_DOWNLOAD_FIRMWARE_EX";
    case CommandId::kSnpCommit:
      return "SNP_COMMIT";
    case CommandId::kSnpVlekLoad:
      return "SNP_VLEK_LOAD";
    case CommandId::kSnpFeatureInfo:
      return "SNP_FEATURE_INFO";
  }
  return "UNKNOWN";
}

std::expected<CmdAddr, FwError> parse_cmd_addr(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdAddr::kSize, "address"); !r) return std::unexpected(r.error());
  return CmdAddr{Hpa{load<uint64_t>(buf, 0)}};
}

std::expected<CmdActivate, FwError> parse_cmd_activate(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdActivate::kSize, "SNP_ACTIVATE"); !r) {
    return std::unexpected(r.error());
  }
  return CmdActivate{Hpa{load<uint64_t>(buf, 0)}, Asid{load<uint32_t>(buf, 8)}};
}

std::expected<CmdLaunchStart, FwError> parse_cmd_launch_start(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdLaunchStart::kSize, "SNP_LAUNCH_START"); !r) {
    return std::unexpected(r.error());
  }
  CmdLaunchStart c;
  c.gctx_paddr = Hpa{load<uint64_t>(buf, 0x00)};
  c.policy = load<uint64_t>(buf, 0x08);
  c.ma_gctx_paddr = Hpa{load<uint64_t>(buf, 0x10)};
  const uint32_t flags = load<uint32_t>(buf, 0x18);
  if (flags & ~uint32_t{3}) return std::unexpected(reserved("SNP_LAUNCH_START flags", flags));
  c.ma_en = bit(flags, 0);
  c.imi_en = bit(flags, 1);
  c.desired_tsc_khz = load<uint32_t>(buf, 0x1C);
  std::memcpy(c.gosvw.data(), buf.data() + 0x20, c.gosvw.size());
  return c;
}

std::expected<CmdLaunchUpdate, FwError> parse_cmd_launch_update(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdLaunchUpdate::kSize, "SNP_LAUNCH_UPDATE"); !r) {
    return std::unexpected(r.error());
  }
  CmdLaunchUpdate c;
  c.gctx_paddr = Hpa{load<uint64_t>(buf, 0x00)};
  const uint32_t word = load<uint32_t>(buf, 0x08);
  const uint32_t perms = load<uint32_t>(buf, 0x18);
  if (word & ~uint32_t{0x1F}) return std::unexpected(reserved("SNP_LAUNCH_UPDATE 0x08", word));
  if (uint32_t r = load<uint32_t>(buf, 0x0C)) {
    return std::unexpected(reserved("SNP_LAUNCH_UPDATE 0x0C", r));
  }
  if (perms & 0xFF) return std::unexpected(reserved("SNP_LAUNCH_UPDATE 0x18", perms));
  if (uint32_t r = load<uint32_t>(buf, 0x1C)) {
    return std::unexpected(reserved("SNP_LAUNCH_UPDATE 0x1C", r));
  }
  c.page_size_2m = bit(word, 0);
  c.page_type = static_cast<PageType>((word >> 1) & 7);
  if (page_type_name(c.page_type) == "invalid") {
    return std::unexpected(ossl::error(
        ErrorKind::kBadField, Status::kInvalidParam,
        "SNP_LAUNCH_UPDATE page_type " + std::to_string((word >> 1) & 7) + " is not 1..6"));
  }
  c.imi_page = bit(word, 4);
  c.address = Hpa{load<uint64_t>(buf, 0x10)};
  const uint64_t align = c.page_size_2m ? kLargePageSize : kPageSize;
  if (c.address.value & (align - 1)) {
    return std::unexpected(misaligned("SNP_LAUNCH_UPDATE", c.address.value));
  }
  c.vmpl1_perms = static_cast<uint8_t>(perms >> 8);
  c.vmpl2_perms = static_cast<uint8_t>(perms >> 16);
  c.vmpl3_perms = static_cast<uint8_t>(perms >> 24);
  return c;
}

std::expected<CmdLaunchFinish, FwError> parse_cmd_launch_finish(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdLaunchFinish::kSize, "SNP_LAUNCH_FINISH"); !r) {
    return std::unexpected(r.error());
  }
  CmdLaunchFinish c;
  c.gctx_paddr = Hpa{load<uint64_t>(buf, 0x00)};
  c.id_block_paddr = Hpa{load<uint64_t>(buf, 0x08)};
  c.id_auth_paddr = Hpa{load<uint64_t>(buf, 0x10)};
  const uint64_t flags = load<uint64_t>(buf, 0x18);
  if (flags & ~uint64_t{7}) return std::unexpected(reserved("SNP_LAUNCH_FINISH flags", flags));
  c.id_block_en = bit(flags, 0);
  c.auth_key_en = bit(flags, 1);
  c.vcek_disabled = bit(flags, 2);
  if (c.auth_key_en && !c.id_block_en) {
    return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                                       "SNP_LAUNCH_FINISH AUTH_KEY_EN without ID_BLOCK_EN"));
  }
  std::memcpy(c.host_data.data(), buf.data() + 0x20, c.host_data.size());
  return c;
}

std::expected<CmdGctxAddrs, FwError> parse_cmd_gctx_addrs(std::span<const uint8_t> buf, int count) {
  if (count != 2 && count != 3) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                    "address count " + std::to_string(count) + " is not 2 or 3"));
  }
  const size_t size = count == 2 ? CmdGctxAddrs::kSizeTwo : CmdGctxAddrs::kSizeThree;
  if (auto r = need(buf, size, "context command"); !r) return std::unexpected(r.error());
  CmdGctxAddrs c;
  c.gctx_paddr = Hpa{load<uint64_t>(buf, 0)};
  c.first = Hpa{load<uint64_t>(buf, 8)};
  if (count == 3) c.second = Hpa{load<uint64_t>(buf, 16)};
  return c;
}

std::expected<CmdPageAddr, FwError> parse_cmd_page_addr(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdPageAddr::kSize, "page address"); !r) {
    return std::unexpected(r.error());
  }
  const uint64_t raw = load<uint64_t>(buf, 0);
  CmdPageAddr c;
  c.page_size_2m = bit(raw, 0);
  c.address = Hpa{raw & ~uint64_t{1}};
  const uint64_t align = c.page_size_2m ? kLargePageSize : kPageSize;
  if (c.address.value & (align - 1)) return std::unexpected(misaligned("page", raw));
  return c;
}

std::expected<CmdInitEx, FwError> parse_cmd_init_ex(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdInitEx::kSize, "SNP_INIT_EX"); !r) return std::unexpected(r.error());
  const uint32_t flags = load<uint32_t>(buf, 0);
  if (flags & ~uint32_t{0x1F}) return std::unexpected(reserved("SNP_INIT_EX flags", flags));
  CmdInitEx c;
  c.init_rmp = bit(flags, 0);
  c.list_paddr_en = bit(flags, 1);
  c.rapl_dis = bit(flags, 2);
  c.ciphertext_hiding_en = bit(flags, 3);
  c.tio_en = bit(flags, 4);
  c.list_paddr = Hpa{load<uint64_t>(buf, 0x08)};
  c.max_snp_asid = load<uint16_t>(buf, 0x10);
  return c;
}

std::expected<CmdShutdownEx, FwError> parse_cmd_shutdown_ex(std::span<const uint8_t> buf) {
  if (auto r = need(buf, CmdShutdownEx::kSize, "SNP_SHUTDOWN_EX"); !r) {
    return std::unexpected(r.error());
  }
  CmdShutdownEx c;
  c.len = load<uint32_t>(buf, 0);
  if (c.len != CmdShutdownEx::kSize) {  // UNCONFIRMED: Linux always sets len = sizeof (8)
    return std::unexpected(
        ossl::error(ErrorKind::kBadLength, Status::kInvalidLength,
                    "SNP_SHUTDOWN_EX len " + std::to_string(c.len) + ", expected 8"));
  }
  const uint32_t flags = load<uint32_t>(buf, 4);
  if (flags & ~uint32_t{3}) return std::unexpected(reserved("SNP_SHUTDOWN_EX flags", flags));
  c.iommu_snp_shutdown = bit(flags, 0);
  c.x86_snp_shutdown = bit(flags, 1);
  return c;
}

std::vector<uint8_t> serialize(const CmdAddr& c) {
  std::vector<uint8_t> b(CmdAddr::kSize);
  store(b, 0, c.address.value);
  return b;
}

std::vector<uint8_t> serialize(const CmdActivate& c) {
  std::vector<uint8_t> b(CmdActivate::kSize);
  store(b, 0, c.gctx_paddr.value);
  store(b, 8, c.asid.value);
  return b;
}

std::vector<uint8_t> serialize(const CmdLaunchStart& c) {
  std::vector<uint8_t> b(CmdLaunchStart::kSize);
  store(b, 0x00, c.gctx_paddr.value);
  store(b, 0x08, c.policy);
  store(b, 0x10, c.ma_gctx_paddr.value);
  store(b, 0x18, uint32_t{c.ma_en} | uint32_t{c.imi_en} << 1);
  store(b, 0x1C, c.desired_tsc_khz);
  std::memcpy(b.data() + 0x20, c.gosvw.data(), c.gosvw.size());
  return b;
}

std::vector<uint8_t> serialize(const CmdLaunchUpdate& c) {
  std::vector<uint8_t> b(CmdLaunchUpdate::kSize);
  store(b, 0x00, c.gctx_paddr.value);
  store(b, 0x08,
        uint32_t{c.page_size_2m} | (uint32_t{static_cast<uint8_t>(c.page_type)} & 7) << 1 |
            uint32_t{c.imi_page} << 4);
  store(b, 0x10, c.address.value);
  store(
      b, 0x18,
      uint32_t{c.vmpl1_perms} << 8 | uint32_t{c.vmpl2_perms} << 16 | uint32_t{c.vmpl3_perms} << 24);
  return b;
}

std::vector<uint8_t> serialize(const CmdLaunchFinish& c) {
  std::vector<uint8_t> b(CmdLaunchFinish::kSize);
  store(b, 0x00, c.gctx_paddr.value);
  store(b, 0x08, c.id_block_paddr.value);
  store(b, 0x10, c.id_auth_paddr.value);
  store(b, 0x18,
        uint64_t{c.id_block_en} | uint64_t{c.auth_key_en} << 1 | uint64_t{c.vcek_disabled} << 2);
  std::memcpy(b.data() + 0x20, c.host_data.data(), c.host_data.size());
  return b;
}

std::vector<uint8_t> serialize(const CmdGctxAddrs& c, int count) {
  std::vector<uint8_t> b(count == 2 ? CmdGctxAddrs::kSizeTwo : CmdGctxAddrs::kSizeThree);
  store(b, 0, c.gctx_paddr.value);
  store(b, 8, c.first.value);
  if (count != 2) store(b, 16, c.second.value);
  return b;
}

std::vector<uint8_t> serialize(const CmdPageAddr& c) {
  std::vector<uint8_t> b(CmdPageAddr::kSize);
  store(b, 0, c.address.value | uint64_t{c.page_size_2m});
  return b;
}

std::vector<uint8_t> serialize(const CmdInitEx& c) {
  std::vector<uint8_t> b(CmdInitEx::kSize);
  store(b, 0,
        uint32_t{c.init_rmp} | uint32_t{c.list_paddr_en} << 1 | uint32_t{c.rapl_dis} << 2 |
            uint32_t{c.ciphertext_hiding_en} << 3 | uint32_t{c.tio_en} << 4);
  store(b, 0x08, c.list_paddr.value);
  store(b, 0x10, c.max_snp_asid);
  return b;
}

std::vector<uint8_t> serialize(const CmdShutdownEx& c) {
  std::vector<uint8_t> b(CmdShutdownEx::kSize);
  store(b, 0, c.len);
  store(b, 4, uint32_t{c.iommu_snp_shutdown} | uint32_t{c.x86_snp_shutdown} << 1);
  return b;
}

}  // namespace snpemu::fw
