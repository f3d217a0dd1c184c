// firmware/measure.cc: the launch digest, a SHA-384 chain over PAGE_INFO structures.
// PLATFORM-FACTS 8.4 [3P virtee/sev-snp-measure gctx.py, SNP ABI PAGE_INFO table].
#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>
#include <vector>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<PageInfo>);

std::string_view page_type_name(PageType type) {
  switch (type) {
    case PageType::kNormal:
      return "normal";
    case PageType::kVmsa:
      return "vmsa";
    case PageType::kZero:
      return "zero";
    case PageType::kUnmeasured:
      return "unmeasured";
    case PageType::kSecrets:
      return "secrets";
    case PageType::kCpuid:
      return "cpuid";
  }
  return "invalid";
}

std::array<uint8_t, sizeof(PageInfo)> serialize_page_info(const PageInfo& info) {
  std::array<uint8_t, sizeof(PageInfo)> out;
  std::memcpy(out.data(), &info, sizeof(PageInfo));
  return out;
}

std::expected<PageInfo, FwError> LaunchDigest::next_page_info(PageType type, Gpa gpa,
                                                              std::span<const uint8_t> page,
                                                              const PageOptions& options) const {
  if (page_type_name(type) == "invalid") {
    return std::unexpected(
        ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                    "page type " + std::to_string(static_cast<int>(type)) + " is not 1..6"));
  }
  if ((gpa.value & kPageOffsetMask) != 0 || gpa.value > kMaxGpa) {
    return std::unexpected(ossl::error(
        ErrorKind::kBadField, Status::kInvalidAddress,
        "launch GPA " + hex(gpa.value) + " is not a page-aligned 52-bit address"));
  }
  PageInfo info;
  info.digest_cur = digest_;
  if (type == PageType::kNormal || type == PageType::kVmsa) {
    if (page.size() != kPageSize) {
      return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidLength,
                                         std::string(page_type_name(type)) + " page is " +
                                             std::to_string(page.size()) +
                                             " bytes, expected 4096"));
    }
    info.contents = sha384(page);  // CONTENTS = SHA-384 of the page plaintext
  }                                // ZERO, UNMEASURED, SECRETS, CPUID: CONTENTS stays 48 zero bytes
  info.page_type = static_cast<uint8_t>(type);
  info.imi_page = options.imi_page ? 1 : 0;
  info.vmpl3_perms = options.vmpl3_perms;
  info.vmpl2_perms = options.vmpl2_perms;
  info.vmpl1_perms = options.vmpl1_perms;
  info.gpa = gpa.value;
  return info;
}

std::expected<void, FwError> LaunchDigest::update(PageType type, Gpa gpa,
                                                  std::span<const uint8_t> page,
                                                  const PageOptions& options) {
  auto info = next_page_info(type, gpa, page, options);
  if (!info) return std::unexpected(info.error());
  digest_ = sha384(serialize_page_info(*info));
  return {};
}

std::expected<void, FwError> LaunchDigest::update_normal(Gpa gpa, std::span<const uint8_t> data) {
  std::vector<uint8_t> page(kPageSize);
  for (uint64_t off = 0; off < data.size(); off += kPageSize) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kPageSize, data.size() - off));
    std::fill(page.begin(), page.end(), 0);
    std::copy_n(data.begin() + static_cast<ptrdiff_t>(off), n, page.begin());
    if (gpa.value + off < gpa.value) {
      return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kInvalidAddress,
                                         "normal pages run past the top of the GPA space"));
    }
    if (auto r = update(PageType::kNormal, Gpa{gpa.value + off}, page); !r) return r;
  }
  return {};
}

std::expected<void, FwError> LaunchDigest::update_vmsa(std::span<const uint8_t> vmsa_page) {
  return update(PageType::kVmsa, kVmsaGpa, vmsa_page);
}

std::expected<void, FwError> LaunchDigest::update_zero(Gpa gpa, uint64_t pages) {
  for (uint64_t i = 0; i < pages; ++i) {
    if (i > (kMaxGpa >> kPageShift)) {
      return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kInvalidAddress,
                                         "zero pages run past the top of the GPA space"));
    }
    if (auto r = update(PageType::kZero, Gpa{gpa.value + i * kPageSize}, {}); !r) return r;
  }
  return {};
}

}  // namespace snpemu::fw
