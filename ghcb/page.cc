// ghcb/page.cc: GHCB page copy, valid bitmap, KVM's sync-from/sync-to rules as pure functions.
// PLATFORM-FACTS 2.1 [L] asm/svm.h; KVM sev.c sev_es_sync_from_ghcb / sev_es_sync_to_ghcb.
#include <cstring>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

constexpr size_t kValidBitmapOffset = offsetof(GhcbSaveArea, valid_bitmap);

void store(std::span<std::byte, kGhcbPageSize> page, size_t offset, const void* src, size_t n) {
  std::memcpy(page.data() + offset, src, n);
}

}  // namespace

size_t ghcb_field_offset(GhcbField f) {
  // The valid-bitmap index of a field is its offset / 8; cpl is the single byte at 0xCB.
  if (f == GhcbField::kCpl) return offsetof(GhcbSaveArea, cpl);
  return static_cast<size_t>(f) * 8;
}

std::string_view ghcb_field_name(GhcbField f) {
  switch (f) {
    case GhcbField::kCpl: return "cpl";
    case GhcbField::kXss: return "xss";
    case GhcbField::kDr7: return "dr7";
    case GhcbField::kRip: return "rip";
    case GhcbField::kRsp: return "rsp";
    case GhcbField::kRax: return "rax";
    case GhcbField::kRcx: return "rcx";
    case GhcbField::kRdx: return "rdx";
    case GhcbField::kRbx: return "rbx";
    case GhcbField::kRbp: return "rbp";
    case GhcbField::kRsi: return "rsi";
    case GhcbField::kRdi: return "rdi";
    case GhcbField::kR8: return "r8";
    case GhcbField::kR9: return "r9";
    case GhcbField::kR10: return "r10";
    case GhcbField::kR11: return "r11";
    case GhcbField::kR12: return "r12";
    case GhcbField::kR13: return "r13";
    case GhcbField::kR14: return "r14";
    case GhcbField::kR15: return "r15";
    case GhcbField::kSwExitCode: return "sw_exit_code";
    case GhcbField::kSwExitInfo1: return "sw_exit_info_1";
    case GhcbField::kSwExitInfo2: return "sw_exit_info_2";
    case GhcbField::kSwScratch: return "sw_scratch";
    case GhcbField::kXcr0: return "xcr0";
  }
  return "unknown";
}

GhcbSnapshot GhcbSnapshot::take(std::span<const std::byte, kGhcbPageSize> guest_page) {
  GhcbSnapshot s;
  std::memcpy(&s.page_, guest_page.data(), kGhcbPageSize);  // the one read of guest memory
  return s;
}

ValidBitmap GhcbSnapshot::valid_bitmap() const {
  ValidBitmap v;
  std::memcpy(v.bytes.data(), page_.save.valid_bitmap, v.bytes.size());
  return v;
}

uint64_t GhcbSnapshot::raw(GhcbField f) const {
  if (f == GhcbField::kCpl) return page_.save.cpl;
  uint64_t v = 0;
  std::memcpy(&v, reinterpret_cast<const std::byte*>(&page_) + ghcb_field_offset(f), sizeof v);
  return v;
}

std::span<const std::byte> GhcbSnapshot::bytes(size_t offset, size_t len) const {
  if (offset > kGhcbPageSize || len > kGhcbPageSize - offset) return {};
  return {reinterpret_cast<const std::byte*>(&page_) + offset, len};
}

VmgexitInputs kvm_sync_from_ghcb(const GhcbSnapshot& s) {
  VmgexitInputs in;
  in.valid = s.valid_bitmap();
  // Exit code and info are copied whether valid or not; validation checks the bits [L].
  in.sw_exit_code = s.raw(GhcbField::kSwExitCode);
  in.sw_exit_info_1 = s.raw(GhcbField::kSwExitInfo1);
  in.sw_exit_info_2 = s.raw(GhcbField::kSwExitInfo2);
  in.sw_scratch = s.get_if_valid(GhcbField::kSwScratch);
  in.rax = s.get_if_valid(GhcbField::kRax);
  in.rbx = s.get_if_valid(GhcbField::kRbx);
  in.rcx = s.get_if_valid(GhcbField::kRcx);
  in.rdx = s.get_if_valid(GhcbField::kRdx);
  in.rsi = s.get_if_valid(GhcbField::kRsi);
  in.cpl = static_cast<uint8_t>(s.get_if_valid(GhcbField::kCpl));
  if (s.is_valid(GhcbField::kXcr0)) in.xcr0 = s.raw(GhcbField::kXcr0);
  in.protocol_version = s.page().protocol_version;
  in.ghcb_usage = s.page().ghcb_usage;
  return in;
}

GhcbResponse response_for_error(const GhcbError& e, const GhcbResponse& regs) {
  GhcbResponse r = regs;
  r.sw_exit_info_1 = error_sw_exit_info_1(e);
  r.sw_exit_info_2 = error_sw_exit_info_2(e);
  return r;
}

GhcbResponse exception_response(uint8_t vector, std::optional<uint32_t> error_code,
                                const GhcbResponse& regs) {
  // SVM event-injection format: vector 7:0, type 10:8 (3 = exception), EV 11, V 31,
  // error code 63:32 (PLATFORM-FACTS 2.2) [L].
  GhcbResponse r = regs;
  r.sw_exit_info_1 = kExitInfo1Exception;
  r.sw_exit_info_2 = uint64_t{vector} | (uint64_t{3} << 8) | (uint64_t{1} << 31);
  if (error_code) r.sw_exit_info_2 |= (uint64_t{1} << 11) | (uint64_t{*error_code} << 32);
  return r;
}

void clear_valid_bitmap(std::span<std::byte, kGhcbPageSize> page) {
  std::memset(page.data() + kValidBitmapOffset, 0, 16);
}

void write_field(std::span<std::byte, kGhcbPageSize> page, GhcbField f, uint64_t value) {
  if (f == GhcbField::kCpl) {
    const uint8_t b = static_cast<uint8_t>(value);
    store(page, ghcb_field_offset(f), &b, 1);
  } else {
    store(page, ghcb_field_offset(f), &value, sizeof value);
  }
  const unsigned bit = static_cast<unsigned>(f);
  page[kValidBitmapOffset + bit / 8] |= std::byte{static_cast<uint8_t>(1u << (bit % 8))};
}

void write_exit_info(std::span<std::byte, kGhcbPageSize> page, uint64_t info1, uint64_t info2) {
  write_field(page, GhcbField::kSwExitInfo1, info1);
  write_field(page, GhcbField::kSwExitInfo2, info2);
}

void write_gprs(std::span<std::byte, kGhcbPageSize> page, const GhcbResponse& r) {
  write_field(page, GhcbField::kRax, r.rax);
  write_field(page, GhcbField::kRbx, r.rbx);
  write_field(page, GhcbField::kRcx, r.rcx);
  write_field(page, GhcbField::kRdx, r.rdx);
}

void write_ghcb_response(std::span<std::byte, kGhcbPageSize> page, const GhcbResponse& r) {
  clear_valid_bitmap(page);
  write_exit_info(page, r.sw_exit_info_1, r.sw_exit_info_2);
  write_gprs(page, r);
}

}  // namespace snpemu::ghcb
