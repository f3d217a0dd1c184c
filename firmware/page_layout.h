// firmware/page_layout.h: the pages of SNP_LAUNCH_UPDATE: page types, PAGE_INFO (the measured
// structure), the CPUID page and the secrets page; pure layout tables, every offset
// static_assert'ed (PLATFORM-FACTS 8.3, 8.4, 8.8). Included by firmware/firmware.h; include that
// instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/types.h"
#include "firmware/abi_types.h"

namespace snpemu::fw {

/// SNP_LAUNCH_UPDATE page types. PLATFORM-FACTS 8.3.
enum class PageType : uint8_t {
  kNormal = 1,
  kVmsa = 2,
  kZero = 3,
  kUnmeasured = 4,
  kSecrets = 5,
  kCpuid = 6,
};

/// GPA recorded for VMSA pages: all ones truncated to 52 bits, page aligned. PLATFORM-FACTS 8.4
/// [3P sev-snp-measure gctx.py VMSA_GPA; L KVM INITIAL_VMSA_GPA].
inline constexpr Gpa kVmsaGpa{0xFFFF'FFFF'F000};
/// Largest GPA (52-bit guest physical address space).
inline constexpr uint64_t kMaxGpa = (uint64_t{1} << 52) - 1;

/// PAGE_INFO, the 112-byte structure hashed at each launch step. PLATFORM-FACTS 8.4.
struct PageInfo {
  Digest384 digest_cur{};
  Digest384 contents{};
  uint16_t length = 0x70;
  uint8_t page_type = 0;
  uint8_t imi_page = 0;
  uint8_t vmpl3_perms = 0;
  uint8_t vmpl2_perms = 0;
  uint8_t vmpl1_perms = 0;
  uint8_t reserved = 0;
  uint64_t gpa = 0;
};
static_assert(offsetof(PageInfo, contents) == 0x30);
static_assert(offsetof(PageInfo, length) == 0x60);
static_assert(offsetof(PageInfo, page_type) == 0x62);
static_assert(offsetof(PageInfo, imi_page) == 0x63);
static_assert(offsetof(PageInfo, vmpl3_perms) == 0x64);
static_assert(offsetof(PageInfo, vmpl1_perms) == 0x66);
static_assert(offsetof(PageInfo, gpa) == 0x68);
static_assert(sizeof(PageInfo) == 0x70);

/// One CPUID table entry (48 bytes). PLATFORM-FACTS 8.3 [L asm/sev.h snp_cpuid_fn].
struct CpuidEntry {
  uint32_t eax_in = 0;
  uint32_t ecx_in = 0;
  uint64_t xcr0_in = 0;
  uint64_t xss_in = 0;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  uint64_t reserved = 0;
  constexpr bool operator==(const CpuidEntry&) const = default;
};
static_assert(offsetof(CpuidEntry, eax) == 0x18);
static_assert(sizeof(CpuidEntry) == 48);

inline constexpr size_t kCpuidMaxEntries = 64;
/// The CPUID page of SNP_LAUNCH_UPDATE(CPUID) (4096 bytes). PLATFORM-FACTS 8.3.
struct CpuidPage {
  uint32_t count = 0;
  uint32_t reserved1 = 0;
  uint64_t reserved2 = 0;
  std::array<CpuidEntry, kCpuidMaxEntries> entries{};
  std::array<uint8_t, 4096 - 16 - kCpuidMaxEntries * 48> reserved3{};
};
static_assert(offsetof(CpuidPage, entries) == 16);
static_assert(sizeof(CpuidPage) == 4096);

/// The OS area of the secrets page (96 bytes). PLATFORM-FACTS 8.8 [L asm/sev.h].
struct SecretsOsArea {
  uint32_t msg_seqno_0 = 0, msg_seqno_1 = 0, msg_seqno_2 = 0, msg_seqno_3 = 0;
  uint64_t ap_jump_table_pa = 0;
  std::array<uint8_t, 40> rsvd{};
  std::array<uint8_t, 32> guest_usage{};
};
static_assert(sizeof(SecretsOsArea) == 96);

/// The secrets page (4096 bytes). PLATFORM-FACTS 8.8 [L asm/sev.h snp_secrets_page].
struct SecretsPage {
  uint32_t version = 0;
  uint32_t imi_en = 0;
  uint32_t fms = 0;
  uint32_t rsvd0 = 0;
  std::array<uint8_t, 16> gosvw{};
  std::array<Vmpck, 4> vmpck{};
  SecretsOsArea os_area{};
  std::array<uint8_t, 64> vmsa_tweak_bitmap{};
  uint64_t svsm_base = 0;
  uint64_t svsm_size = 0;
  uint64_t svsm_caa = 0;
  uint32_t svsm_max_version = 0;
  uint8_t svsm_guest_vmpl = 0;
  std::array<uint8_t, 3> rsvd1{};
  uint32_t tsc_factor = 0;
  std::array<uint8_t, 3740> rsvd2{};
};
static_assert(offsetof(SecretsPage, gosvw) == 0x010);
static_assert(offsetof(SecretsPage, vmpck) == 0x020);
static_assert(offsetof(SecretsPage, os_area) == 0x0A0);
static_assert(offsetof(SecretsPage, vmsa_tweak_bitmap) == 0x100);
static_assert(offsetof(SecretsPage, svsm_base) == 0x140);
static_assert(offsetof(SecretsPage, svsm_max_version) == 0x158);
static_assert(offsetof(SecretsPage, svsm_guest_vmpl) == 0x15C);
static_assert(offsetof(SecretsPage, tsc_factor) == 0x160);
static_assert(sizeof(SecretsPage) == 4096);

/// Secrets page VERSION this model writes. UNCONFIRMED: ABI revisions define 2 and 3; 3 chosen
/// because the page carries the later fields (TSC factor).
inline constexpr uint32_t kSecretsPageVersion = 3;

}  // namespace snpemu::fw
