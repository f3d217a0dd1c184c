// firmware/cpuid_page.cc: the CPUID page layout and the firmware's check of it.
// Layout: PLATFORM-FACTS 8.3 [L asm/sev.h snp_cpuid_table]. The check is a model: AMD's firmware
// rules are not published in our sources (UNCONFIRMED); the rule table is a runtime option.
#include <bit>
#include <cstring>
#include <type_traits>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<CpuidPage>);

namespace {

std::expected<void, FwError> check_count(uint32_t count) {
  if (count <= kCpuidMaxEntries) return {};
  return std::unexpected(
      ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                  "CPUID page count " + std::to_string(count) + " exceeds 64 entries"));
}

}  // namespace

std::array<uint8_t, 4096> serialize_cpuid_page(const CpuidPage& page) {
  std::array<uint8_t, 4096> out;
  std::memcpy(out.data(), &page, out.size());
  return out;
}

std::expected<CpuidPage, FwError> parse_cpuid_page(std::span<const uint8_t> bytes) {
  if (bytes.size() != sizeof(CpuidPage)) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadLength, Status::kInvalidLength,
                    "CPUID page is " + std::to_string(bytes.size()) + " bytes, expected 4096"));
  }
  CpuidPage page;
  std::memcpy(static_cast<void*>(&page), bytes.data(), sizeof(page));
  if (auto r = check_count(page.count); !r) return std::unexpected(r.error());
  return page;
}

std::expected<CpuidPage, FwError> sanitize_cpuid_page(const CpuidPage& page,
                                                      std::span<const CpuidRule> rules,
                                                      bool* changed) {
  if (auto r = check_count(page.count); !r) return std::unexpected(r.error());
  CpuidPage out = page;
  for (uint32_t i = 0; i < page.count; ++i) {
    CpuidEntry& e = out.entries[i];
    const CpuidRule* rule = nullptr;
    for (const CpuidRule& r : rules) {
      if (r.eax_in == e.eax_in && r.ecx_in == e.ecx_in) {
        rule = &r;
        break;
      }
    }
    uint32_t* regs[4] = {&e.eax, &e.ebx, &e.ecx, &e.edx};
    for (int r = 0; r < 4; ++r) {
      *regs[r] = rule != nullptr ? (*regs[r] & rule->allowed[r]) | rule->required[r] : 0;
    }
  }
  if (changed != nullptr) *changed = !(serialize_cpuid_page(out) == serialize_cpuid_page(page));
  return out;
}

}  // namespace snpemu::fw
