// ghcb/validate.cc: KVM's GHCB input validation and scratch-area rules as pure functions.
// PLATFORM-FACTS 2.4, 2.5 [L] arch/x86/kvm/svm/sev.c sev_es_validate_vmgexit,
// setup_vmgexit_scratch, sev_es_string_io.
#include <climits>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

constexpr uint64_t kIoioStrMask = uint64_t{1} << 2;   // SVM_IOIO_STR_MASK [L]
constexpr uint64_t kIoioTypeMask = uint64_t{1} << 0;  // SVM_IOIO_TYPE_MASK: 1 = IN [L]
constexpr uint64_t kPageMask = ~uint64_t{0xFFF};

GhcbError missing(std::string_view what) { return malformed(GhcbErrorCode::kMissingInput, what); }

std::expected<void, GhcbError> require(const ValidBitmap& v, GhcbField f, std::string_view what) {
  if (!v.test(f)) return std::unexpected(missing(what));
  return {};
}

std::expected<void, GhcbError> check_condition(NaeCondition c, const VmgexitInputs& in) {
  switch (c) {
    case NaeCondition::kNone:
      return {};
    case NaeCondition::kCpuidXcr0IfRaxIsD:
      // KVM compares the whole RAX (valid by now) with 0xD.
      if (in.rax == 0xD) return require(in.valid, GhcbField::kXcr0, "CPUID 0xD needs xcr0");
      return {};
    case NaeCondition::kIoioScratchOrRax:
      if (in.sw_exit_info_1 & kIoioStrMask) {
        return require(in.valid, GhcbField::kSwScratch, "string IOIO needs sw_scratch");
      }
      if (!(in.sw_exit_info_1 & kIoioTypeMask)) {
        return require(in.valid, GhcbField::kRax, "OUT needs rax");
      }
      return {};
    case NaeCondition::kMsrWriteRaxRdx:
      if (in.sw_exit_info_1 != 0) {
        if (auto r = require(in.valid, GhcbField::kRax, "WRMSR needs rax"); !r) return r;
        return require(in.valid, GhcbField::kRdx, "WRMSR needs rdx");
      }
      return {};
    case NaeCondition::kApCreationRaxUnlessDestroy:
      if (static_cast<uint32_t>(in.sw_exit_info_1) !=
          static_cast<uint32_t>(ApCreationRequest::kDestroy)) {
        return require(in.valid, GhcbField::kRax, "AP creation needs rax");
      }
      return {};
    case NaeCondition::kGuestRequestPages:
      if ((in.sw_exit_info_1 & ~kPageMask) != 0 || (in.sw_exit_info_2 & ~kPageMask) != 0 ||
          in.sw_exit_info_1 == in.sw_exit_info_2) {
        return std::unexpected(missing("guest request pages unaligned or equal"));
      }
      return {};
  }
  return std::unexpected(missing("unknown condition"));
}

}  // namespace

std::expected<void, GhcbError> validate_vmgexit(const GhcbSnapshot& s, const VmgexitContext& ctx) {
  const VmgexitInputs in = kvm_sync_from_ghcb(s);
  // Only GHCB usage 0 is supported [L].
  if (in.ghcb_usage != 0) {
    return std::unexpected(malformed(GhcbErrorCode::kInvalidUsage, "ghcb_usage is not 0"));
  }
  if (!in.valid.test(GhcbField::kSwExitCode) || !in.valid.test(GhcbField::kSwExitInfo1) ||
      !in.valid.test(GhcbField::kSwExitInfo2)) {
    return std::unexpected(missing("sw_exit_code/sw_exit_info_1/sw_exit_info_2 not valid"));
  }
  const NaeEventRow* row = find_nae_event(in.sw_exit_code);
  if (row == nullptr || !row->kvm_accepts) {
    return std::unexpected(malformed(GhcbErrorCode::kInvalidEvent, "exit code not supported"));
  }
  // SNP-only events from a non-SNP guest fall into KVM's MISSING_INPUT path [L].
  if (row->snp_only && !ctx.snp_guest) return std::unexpected(missing("event needs an SNP guest"));
  for (uint8_t i = 0; i < row->required_count; ++i) {
    if (auto r = require(in.valid, row->required[i], "required register not valid"); !r) return r;
  }
  return check_condition(row->condition, in);
}

std::expected<ScratchArea, GhcbError> check_scratch_area(uint64_t ghcb_gpa, uint64_t scratch_gpa,
                                                         uint64_t len) {
  auto bad = [](std::string_view what) {
    return std::unexpected(malformed(GhcbErrorCode::kInvalidScratchArea, what));
  };
  if (scratch_gpa == 0) return bad("scratch gpa not provided");
  const uint64_t end = scratch_gpa + len;
  if (end < scratch_gpa) return bad("scratch gpa + length overflows");
  if ((scratch_gpa & kPageMask) == ghcb_gpa) {
    // Begins within the GHCB: must lie wholly in the shared buffer [0x800, 0xFF0) [L].
    if (scratch_gpa < ghcb_gpa + kGhcbSharedBufferOffset ||
        end > ghcb_gpa + kGhcbSharedBufferEnd) {
      return bad("scratch area outside the GHCB shared buffer");
    }
    return ScratchArea{scratch_gpa, len, true, static_cast<uint16_t>(scratch_gpa - ghcb_gpa)};
  }
  if (len > kScratchAreaLimit) return bad("scratch area exceeds 16 pages");
  return ScratchArea{scratch_gpa, len, false, 0};
}

std::span<const std::byte> scratch_bytes_in_ghcb(const GhcbSnapshot& s, const ScratchArea& a) {
  if (!a.in_ghcb) return {};
  return s.bytes(a.ghcb_offset, kGhcbPageSize - a.ghcb_offset);
}

std::optional<uint64_t> string_io_scratch_len(uint64_t count, unsigned size) {
  if (count > static_cast<uint64_t>(INT_MAX)) return std::nullopt;  // KVM: -EINVAL
  int bytes = 0;
  if (size > static_cast<unsigned>(INT_MAX) ||
      __builtin_mul_overflow(static_cast<int>(count), static_cast<int>(size), &bytes)) {
    return std::nullopt;  // KVM check_mul_overflow on int: -EINVAL
  }
  return static_cast<uint64_t>(bytes);
}

}  // namespace snpemu::ghcb
