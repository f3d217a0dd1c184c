// emu/vmm/launch_plan.cc: the SNP launch plan of an ELF guest and its measurement.
#include "emu/vmm/launch_plan.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>

#include "base/hex.h"
#include "emu/elf/elf.h"
#include "emu/exec/boot_layout.h"

namespace snpemu::vmm {
namespace {

static_assert(std::endian::native == std::endian::little);
static_assert(boot::kStackTop == kSecretsGpa, "the secrets page sits right above the stack");
static_assert(kMaxVcpus * kVcpuStackSize <= boot::kStackTop - boot::kStackBottom);

// Control-register and EFER bits. APM vol 2, 3.1.1 (CR0), 3.1.3 (CR4), 3.1.7 (EFER).
constexpr uint64_t kCr0Pe = 1u << 0;
constexpr uint64_t kCr0Et = 1u << 4;
constexpr uint64_t kCr0Ne = 1u << 5;
constexpr uint64_t kCr0Wp = 1u << 16;
constexpr uint64_t kCr0Pg = uint64_t{1} << 31;
constexpr uint64_t kCr4Pae = 1u << 5;
constexpr uint64_t kCr4Mce = 1u << 6;
constexpr uint64_t kEferLme = 1u << 8;
constexpr uint64_t kEferLma = 1u << 10;
constexpr uint64_t kEferNxe = 1u << 11;
constexpr uint64_t kEferSvme = 1u << 12;

// Segment attributes in the VMCB packing, as cpu::long_mode_state loads them (cpu/msr.cc):
// code P DPL0 S execute/read accessed, L, G; data P S read/write accessed, D/B, G; TR a busy
// 64-bit TSS. APM vol 2, 4.7-4.8 and 15.5.1.
constexpr uint16_t kCodeAttrib = 0xA9B;
constexpr uint16_t kDataAttrib = 0xC93;
constexpr uint16_t kTrAttrib = 0x8B;
constexpr uint32_t kTrLimit = 0x67;

// Reset values KVM and QEMU put into every SEV-ES/SNP VMSA. [3P sev-snp-measure vmsa.py and
// virtee/sev measurement/vmsa.rs; L KVM sev_es_sync_vmsa for MXCSR/FCW with KVM_SEV_INIT2]
constexpr uint64_t kDr6Reset = 0xFFFF0FF0;
constexpr uint64_t kDr7Reset = 0x400;
constexpr uint64_t kRflagsReset = 0x2;
constexpr uint64_t kPatReset = 0x0007040600070406;  // APM vol 2, 7.8.1
constexpr uint32_t kMxcsrReset = 0x1F80;
constexpr uint16_t kFcwReset = 0x37F;

// SEV_FEATURES bits this model knows (cpu/svm/vmsa.h); others are refused.
constexpr uint64_t kKnownSevFeatures =
    svm::sev_features::kSnpActive | svm::sev_features::kVtom | svm::sev_features::kReflectVc |
    svm::sev_features::kRestrictedInjection | svm::sev_features::kAlternateInjection |
    svm::sev_features::kDebugSwap | svm::sev_features::kPreventHostIbs |
    svm::sev_features::kBtbIsolation | svm::sev_features::kVmplSss | svm::sev_features::kSecureTsc |
    svm::sev_features::kVmgexitParameter | svm::sev_features::kIbsVirtualization |
    svm::sev_features::kVmsaRegProtection | svm::sev_features::kSmtProtection |
    svm::sev_features::kSecureAvic;

LaunchPlanError error(LaunchPlanErrorKind kind, std::string message) {
  return LaunchPlanError{kind, std::move(message)};
}

std::string span_text(uint64_t begin, uint64_t end) {
  // Appended piece by piece: gcc 12 at -O3 reports a false -Wrestrict for "[" + std::string.
  std::string s = "[";
  s += hex(begin);
  s += ", ";
  s += hex(end);
  s += ")";
  return s;
}

// The NORMAL ranges of the ELF image: pages touched by any PT_LOAD segment, contents the file
// bytes zero-padded, contiguous pages merged, ascending GPA.
std::expected<std::vector<LaunchRange>, LaunchPlanError> image_ranges(
    const ElfImage& image, std::span<const uint8_t> file) {
  std::vector<ElfSegment> segs = image.segments;
  std::sort(segs.begin(), segs.end(),
            [](const ElfSegment& a, const ElfSegment& b) { return a.paddr < b.paddr; });
  std::map<uint64_t, std::vector<uint8_t>> pages;  // page GPA -> 4 KiB contents
  for (size_t i = 0; i < segs.size(); ++i) {
    const ElfSegment& s = segs[i];
    const uint64_t end = s.paddr + s.memsz;
    if (end < s.paddr || end > boot::kIdentityMapEnd) {
      return std::unexpected(error(LaunchPlanErrorKind::kOutOfRange,
                                   "ELF segment " + span_text(s.paddr, s.paddr + s.memsz) +
                                       " is not below " + hex(boot::kIdentityMapEnd) +
                                       ", the end of the boot identity map"));
    }
    if (i > 0 && s.paddr < segs[i - 1].paddr + segs[i - 1].memsz) {
      return std::unexpected(error(
          LaunchPlanErrorKind::kOverlap,
          "ELF segments " + span_text(segs[i - 1].paddr, segs[i - 1].paddr + segs[i - 1].memsz) +
              " and " + span_text(s.paddr, end) + " overlap"));
    }
    for (uint64_t page = s.paddr & ~kPageOffsetMask; page < end; page += kPageSize) {
      auto [it, inserted] = pages.try_emplace(page, kPageSize, 0);
      (void)inserted;
      const uint64_t from = std::max(page, s.paddr);
      const uint64_t file_end = s.paddr + s.filesz;
      const uint64_t to = std::min(page + kPageSize, file_end);
      if (from < to) {
        std::memcpy(it->second.data() + (from - page), file.data() + s.offset + (from - s.paddr),
                    to - from);
      }
    }
  }
  std::vector<LaunchRange> ranges;
  for (auto& [gpa, bytes] : pages) {
    if (!ranges.empty() && ranges.back().gpa.value + ranges.back().pages * kPageSize == gpa) {
      ranges.back().contents.insert(ranges.back().contents.end(), bytes.begin(), bytes.end());
      ++ranges.back().pages;
      continue;
    }
    ranges.push_back(
        LaunchRange{fw::PageType::kNormal, Gpa{gpa}, 1, std::move(bytes), "ELF segment pages"});
  }
  return ranges;
}

// The entry must lie in an executable segment mapped at its own address (the boot page tables
// map virtual = physical).
std::expected<void, LaunchPlanError> check_entry(const ElfImage& image) {
  constexpr uint32_t kPfX = 1;
  for (const ElfSegment& s : image.segments) {
    if ((s.flags & kPfX) != 0 && image.entry >= s.vaddr && image.entry - s.vaddr < s.memsz) {
      if (s.vaddr != s.paddr) {
        return std::unexpected(error(LaunchPlanErrorKind::kBadElf,
                                     "ELF: entry " + hex(image.entry) + " is in a segment with " +
                                         "p_vaddr " + hex(s.vaddr) + " != p_paddr " + hex(s.paddr) +
                                         "; the boot map is the identity"));
      }
      return {};
    }
  }
  return std::unexpected(
      error(LaunchPlanErrorKind::kBadElf,
            "ELF: entry " + hex(image.entry) + " is not inside an executable PT_LOAD segment"));
}

}  // namespace

std::expected<void, LaunchPlanError> check_options(const LaunchOptions& options) {
  if (options.vcpus == 0 || options.vcpus > kMaxVcpus) {
    return std::unexpected(error(
        LaunchPlanErrorKind::kBadOption,
        "vcpus " + std::to_string(options.vcpus) + " is not 1.." + std::to_string(kMaxVcpus)));
  }
  const fw::GuestPolicy policy = fw::decode_policy(options.policy);
  if (!policy.rsvd_mbo || policy.reserved_bits != 0) {
    return std::unexpected(
        error(LaunchPlanErrorKind::kBadOption, "policy " + hex(options.policy) +
                                                   " must have bit 17 set and bits 63:26 clear "
                                                   "(PLATFORM-FACTS 8.5)"));
  }
  if ((options.sev_features & svm::sev_features::kSnpActive) == 0 ||
      (options.sev_features & ~kKnownSevFeatures) != 0) {
    return std::unexpected(error(LaunchPlanErrorKind::kBadOption,
                                 "SEV features " + hex(options.sev_features) +
                                     " must have bit 0 (SNP active) set and only known bits " +
                                     hex(kKnownSevFeatures)));
  }
  if (options.c_bit < 32 || options.c_bit > 51) {
    return std::unexpected(error(LaunchPlanErrorKind::kBadOption,
                                 "C-bit " + std::to_string(options.c_bit) + " is not 32..51"));
  }
  return {};
}

svm::SevEsSaveArea initial_vmsa(uint64_t entry, uint32_t index, const LaunchOptions& options) {
  const uint64_t c_mask = uint64_t{1} << options.c_bit;
  svm::SevEsSaveArea v{};
  v.cs = svm::VmcbSeg{boot::kCodeSelector, kCodeAttrib, 0xFFFFFFFF, 0};
  const svm::VmcbSeg data{boot::kDataSelector, kDataAttrib, 0xFFFFFFFF, 0};
  v.ds = v.es = v.fs = v.gs = v.ss = data;
  v.gdtr = svm::VmcbSeg{0, 0, boot::kGdtLimit, boot::kGdt};
  v.tr = svm::VmcbSeg{0, kTrAttrib, kTrLimit, 0};
  v.vmpl = 0;
  v.cpl = 0;
  v.efer = kEferLme | kEferLma | kEferNxe | kEferSvme;
  v.cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  v.cr3 = boot::kPml4 | c_mask;
  v.cr4 = kCr4Pae | kCr4Mce;
  v.dr6 = kDr6Reset;
  v.dr7 = kDr7Reset;
  v.rflags = kRflagsReset;
  v.rip = entry;
  v.rsp = boot::kStackTop - uint64_t{index} * kVcpuStackSize;
  v.rdi = index;
  v.rdx = options.vcpu_sig;
  v.g_pat = kPatReset;
  v.sev_features = options.sev_features;
  v.xcr0 = 1;
  v.mxcsr = kMxcsrReset;
  v.x87_fcw = kFcwReset;
  return v;
}

std::vector<uint8_t> vmsa_page(const svm::SevEsSaveArea& vmsa) {
  std::vector<uint8_t> page(kPageSize, 0);
  std::memcpy(page.data(), &vmsa, sizeof vmsa);
  return page;
}

std::expected<void, LaunchPlanError> check_no_overlap(std::span<const LaunchRange> ranges) {
  std::vector<const LaunchRange*> sorted;
  for (const LaunchRange& r : ranges) {
    if (r.type != fw::PageType::kVmsa) sorted.push_back(&r);
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const LaunchRange* a, const LaunchRange* b) {
    return a->gpa.value < b->gpa.value;
  });
  for (size_t i = 1; i < sorted.size(); ++i) {
    const LaunchRange& a = *sorted[i - 1];
    const LaunchRange& b = *sorted[i];
    const uint64_t a_end = a.gpa.value + a.pages * kPageSize;
    if (b.gpa.value < a_end) {
      return std::unexpected(
          error(LaunchPlanErrorKind::kOverlap,
                a.what + " " + span_text(a.gpa.value, a_end) + " and " + b.what + " " +
                    span_text(b.gpa.value, b.gpa.value + b.pages * kPageSize) + " overlap"));
    }
  }
  return {};
}

std::expected<LaunchPlan, LaunchPlanError> make_launch_plan(std::span<const uint8_t> elf,
                                                            const LaunchOptions& options) {
  if (auto ok = check_options(options); !ok) return std::unexpected(ok.error());
  auto image = parse_elf64(elf);
  if (!image) return std::unexpected(error(LaunchPlanErrorKind::kBadElf, image.error()));
  if (auto ok = check_entry(*image); !ok) return std::unexpected(ok.error());
  auto ranges = image_ranges(*image, elf);
  if (!ranges) return std::unexpected(ranges.error());

  LaunchPlan plan;
  plan.policy = options.policy;
  plan.entry = image->entry;
  plan.vcpus = options.vcpus;
  plan.ranges = std::move(*ranges);
  const uint64_t c_mask = uint64_t{1} << options.c_bit;
  plan.ranges.push_back(LaunchRange{fw::PageType::kNormal, Gpa{boot::kPml4},
                                    (boot::kPageTablesEnd - boot::kPml4) / kPageSize,
                                    boot::page_tables_image(c_mask), "boot page tables"});
  const auto gdt = boot::gdt_page_image();
  plan.ranges.push_back(LaunchRange{fw::PageType::kNormal, Gpa{boot::kGdt}, 1,
                                    std::vector<uint8_t>(gdt.begin(), gdt.end()), "GDT"});
  plan.ranges.push_back(LaunchRange{fw::PageType::kZero,
                                    Gpa{boot::kStackBottom},
                                    (boot::kStackTop - boot::kStackBottom) / kPageSize,
                                    {},
                                    "stack"});
  plan.ranges.push_back(
      LaunchRange{fw::PageType::kSecrets, Gpa{kSecretsGpa}, 1, {}, "secrets page"});
  // UNCONFIRMED: the VMM's CPUID table is left empty (count 0) until the launch flow fills it
  // from the CPU profile; its contents never enter the digest (PLATFORM-FACTS 8.4).
  const auto cpuid = fw::serialize_cpuid_page(fw::CpuidPage{});
  plan.ranges.push_back(LaunchRange{fw::PageType::kCpuid, Gpa{kCpuidGpa}, 1,
                                    std::vector<uint8_t>(cpuid.begin(), cpuid.end()),
                                    "CPUID page"});
  for (uint32_t i = 0; i < options.vcpus; ++i) {
    plan.ranges.push_back(LaunchRange{fw::PageType::kVmsa, fw::kVmsaGpa, 1,
                                      vmsa_page(initial_vmsa(image->entry, i, options)),
                                      "VMSA of vCPU " + std::to_string(i)});
  }
  if (auto ok = check_no_overlap(plan.ranges); !ok) return std::unexpected(ok.error());
  return plan;
}

std::expected<fw::Digest384, LaunchPlanError> measure(std::span<const LaunchRange> ranges) {
  fw::LaunchDigest digest;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const LaunchRange& r = ranges[i];
    const bool has_contents = r.type == fw::PageType::kNormal || r.type == fw::PageType::kVmsa;
    if (has_contents && r.contents.size() != r.pages * kPageSize) {
      return std::unexpected(error(LaunchPlanErrorKind::kBadPage,
                                   "range " + std::to_string(i) + " (" + r.what + ") has " +
                                       std::to_string(r.contents.size()) + " bytes for " +
                                       std::to_string(r.pages) + " pages"));
    }
    for (uint64_t p = 0; p < r.pages; ++p) {
      const uint64_t gpa = r.gpa.value + p * kPageSize;
      if (gpa < r.gpa.value) {
        return std::unexpected(
            error(LaunchPlanErrorKind::kBadPage, "range " + std::to_string(i) + " (" + r.what +
                                                     ") runs past the top of the address space"));
      }
      std::span<const uint8_t> page;
      if (has_contents)
        page = std::span<const uint8_t>(r.contents).subspan(p * kPageSize, kPageSize);
      if (auto ok = digest.update(r.type, Gpa{gpa}, page); !ok) {
        return std::unexpected(error(LaunchPlanErrorKind::kBadPage,
                                     "range " + std::to_string(i) + " (" + r.what + ") page " +
                                         std::to_string(p) + ": " + ok.error().message));
      }
    }
  }
  return digest.digest();
}

}  // namespace snpemu::vmm
