// ghcb/ghcb.h: pure codecs for the guest-hypervisor communication block (GHCB) protocol.
//
// Everything here turns guest-controlled bits into typed values or into the protocol's own error
// answer (STYLE rule 12): no memory access, no machine, no state beyond what the caller holds.
// The package depends on nothing (not even //base); GFNs and GPAs are plain uint64_t.
//
// Table of contents (one section per defining file):
//   errors.cc        GhcbError: the protocol's answer to bad input (EXITINFO pair or MSR value)
//   msr_protocol.cc  GHCB MSR protocol: typed requests/responses, encode/decode, KVM answers
//   page.cc          GHCB page layout (v1/v2), valid bitmap, GhcbSnapshot, response writers
//   nae.cc           NAE exit codes, their names and the table of required inputs
//   validate.cc      KVM's sev_es_validate_vmgexit and setup_vmgexit_scratch as pure functions
//   psc.cc           Page State Change descriptor: parse, KVM's resumable scan/coalesce, write-back
//
// Facts: ../shared/spec/PLATFORM-FACTS.md sections 1-3, re-checked against torvalds/linux
// arch/x86/include/asm/sev-common.h and arch/x86/kvm/svm/sev.c (6.14-6.16 era).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

namespace snpemu::ghcb {

static_assert(std::endian::native == std::endian::little, "GHCB layouts are little-endian");

// ===================================================================================== errors.cc

/// GHCB error codes carried in SW_EXITINFO2 when SW_EXITINFO1 = 2 ("malformed input").
/// PLATFORM-FACTS 2.2 [L] sev-common.h GHCB_ERR_*.
enum class GhcbErrorCode : uint64_t {
  kNotRegistered = 1, kInvalidUsage = 2, kInvalidScratchArea = 3, kMissingInput = 4,
  kInvalidInput = 5, kInvalidEvent = 6,
};

/// SW_EXITINFO1 values of the response convention. PLATFORM-FACTS 2.2 [L].
inline constexpr uint64_t kExitInfo1NoAction = 0;
inline constexpr uint64_t kExitInfo1Exception = 1;
inline constexpr uint64_t kExitInfo1MalformedInput = 2;

/// PSC NAE results in SW_EXITINFO2 (with SW_EXITINFO1 = 0). PLATFORM-FACTS 3.2 [L]
/// sev-common.h VMGEXIT_PSC_ERROR_*.
enum class PscStatus : uint64_t {
  kSuccess = 0,
  kGenericError = uint64_t{0x100} << 32,
  kInvalidHeader = (uint64_t{1} << 32) | 1,
  kInvalidEntry = (uint64_t{1} << 32) | 2,
};

/// Which protocol answer a GhcbError stands for.
enum class GhcbErrorKind : uint8_t {
  kMalformedInput,  ///< GHCB page: answer SW_EXITINFO1 = 2, SW_EXITINFO2 = code (GhcbErrorCode).
  kPscStatus,       ///< PSC NAE: answer SW_EXITINFO1 = 0, SW_EXITINFO2 = code (PscStatus).
  kMsrUnknownCode,  ///< MSR protocol, unknown GHCBInfo: KVM leaves the MSR as is (code = it).
  kMsrMalformed,    ///< MSR protocol, reserved bits set (strict policy): code = MSR answer.
};

/// The protocol's own answer to bad guest input, plus a static description for messages.
struct GhcbError {
  GhcbErrorKind kind = GhcbErrorKind::kMalformedInput;
  uint64_t code = 0;
  std::string_view what;  ///< Static text; never owns memory.
  constexpr bool operator==(const GhcbError& o) const { return kind == o.kind && code == o.code; }
};

/// Builds a kMalformedInput error (EXITINFO1 = 2, EXITINFO2 = code).
constexpr GhcbError malformed(GhcbErrorCode c, std::string_view what) {
  return {GhcbErrorKind::kMalformedInput, static_cast<uint64_t>(c), what};
}
/// Builds a kPscStatus error (EXITINFO1 = 0, EXITINFO2 = status).
constexpr GhcbError psc_error(PscStatus s, std::string_view what) {
  return {GhcbErrorKind::kPscStatus, static_cast<uint64_t>(s), what};
}
/// SW_EXITINFO1 the hypervisor writes for a GHCB-page error (2 malformed, 0 PSC status).
uint64_t error_sw_exit_info_1(const GhcbError& e);
/// SW_EXITINFO2 the hypervisor writes for a GHCB-page error (the error or status code).
uint64_t error_sw_exit_info_2(const GhcbError& e);
/// Name of a GHCB error code ("MISSING_INPUT", ...), "UNKNOWN" otherwise.
std::string_view ghcb_error_code_name(uint64_t code);

// ================================================================================ msr_protocol.cc
// GHCB MSR value = GHCBData[63:12] | GHCBInfo[11:0]. PLATFORM-FACTS 1.1, 1.2 [L] sev-common.h.

inline constexpr uint64_t kMsrInfoMask = 0xFFF;

/// GHCBInfo codes. PLATFORM-FACTS 1.2 [L].
enum class MsrCode : uint16_t {
  kSevInfoResp = 0x001, kSevInfoReq = 0x002, kCpuidReq = 0x004, kCpuidResp = 0x005,
  kApResetHoldReq = 0x006, kApResetHoldResp = 0x007, kPrefGpaReq = 0x010, kPrefGpaResp = 0x011,
  kRegGpaReq = 0x012, kRegGpaResp = 0x013, kPscReq = 0x014, kPscResp = 0x015, kVmplReq = 0x016,
  kVmplResp = 0x017, kHvFtReq = 0x080, kHvFtResp = 0x081, kTermReq = 0x100,
};

/// CPUID register select, request bits 31:30.
enum class CpuidRegister : uint8_t { kEax = 0, kEbx = 1, kEcx = 2, kEdx = 3 };

/// PSC operations (MSR bits 55:52, descriptor entry bits 55:52). PLATFORM-FACTS 1.2, 3.1.
enum class PscOperation : uint8_t { kPrivate = 1, kShared = 2, kPsmash = 3, kUnsmash = 4 };

/// Generic PSC failure answered over the MSR protocol: bit 63 | 0x015 [L] GHCB_MSR_PSC_RESP_ERROR.
inline constexpr uint64_t kMsrPscRespError = (uint64_t{1} << 63) | 0x015;
/// "No preference" GFN in PREF_GPA_RESP (52 bits of ones) [L] GHCB_MSR_PREF_GPA_NONE.
inline constexpr uint64_t kPrefGpaNone = 0xF'FFFF'FFFF'FFFF;

#define SNPEMU_GHCB_EQ(T) constexpr bool operator==(const T&) const = default
/// SEV_INFO_REQ (0x002): no data; answered with SevInfoResponse.
struct SevInfoRequest { SNPEMU_GHCB_EQ(SevInfoRequest); };
/// CPUID_REQ (0x004): function in 63:32 (EAX in; ECX is always 0), register select in 31:30.
struct CpuidRequest {
  uint32_t function = 0;
  CpuidRegister reg = CpuidRegister::kEax;
  SNPEMU_GHCB_EQ(CpuidRequest);
};
/// AP_RESET_HOLD_REQ (0x006): no data; the vCPU parks until a SIPI (PLATFORM-FACTS 1.8).
struct ApResetHoldRequest { SNPEMU_GHCB_EQ(ApResetHoldRequest); };
/// PREF_GPA_REQ (0x010): no data; KVM always answers kPrefGpaNone (SNP only).
struct PrefGpaRequest { SNPEMU_GHCB_EQ(PrefGpaRequest); };
/// REG_GPA_REQ (0x012): GFN in 63:12 (52 bits) [L] GHCB_MSR_GPA_VALUE_MASK.
struct RegGpaRequest { uint64_t gfn = 0; SNPEMU_GHCB_EQ(RegGpaRequest); };
/// PSC_REQ (0x014): GFN in 51:12 (40 bits), raw operation in 55:52; KVM answers
/// kMsrPscRespError unless the operation is 1 or 2 (psc_msr_operation_supported).
struct PscMsrRequest { uint64_t gfn = 0; uint8_t operation = 0; SNPEMU_GHCB_EQ(PscMsrRequest); };
/// VMPL_REQ (0x016, run at VMPL): target VMPL in 39:32.
struct VmplRequest { uint8_t vmpl = 0; SNPEMU_GHCB_EQ(VmplRequest); };
/// HV_FT_REQ (0x080): no data; answered with HvFeaturesResponse.
struct HvFeaturesRequest { SNPEMU_GHCB_EQ(HvFeaturesRequest); };
/// TERM_REQ (0x100): reason set in 15:12, reason code in 23:16 (PLATFORM-FACTS 1.7). Also the
/// decoded form of the NAE TERM_REQUEST (decode_nae_term).
struct TermRequest {
  uint8_t reason_set = 0;
  uint8_t reason_code = 0;
  SNPEMU_GHCB_EQ(TermRequest);
};

/// A guest-to-hypervisor MSR protocol request.
using MsrRequest = std::variant<SevInfoRequest, CpuidRequest, ApResetHoldRequest, PrefGpaRequest,
                                RegGpaRequest, PscMsrRequest, VmplRequest, HvFeaturesRequest,
                                TermRequest>;

/// SEV_INFO_RESP (0x001): max protocol 63:48, min protocol 47:32, C-bit position 31:24.
struct SevInfoResponse {
  uint16_t max_protocol = 0;
  uint16_t min_protocol = 0;
  uint8_t c_bit = 0;
  SNPEMU_GHCB_EQ(SevInfoResponse);
};
/// CPUID_RESP (0x005): register value in 63:32; 31:30 echo the request's register select.
struct CpuidResponse {
  uint32_t value = 0;
  CpuidRegister reg = CpuidRegister::kEax;
  SNPEMU_GHCB_EQ(CpuidResponse);
};
/// AP_RESET_HOLD_RESP (0x007): 63:12 = 0 spurious wake, non-zero (KVM: 1) woken by SIPI.
struct ApResetHoldResponse { uint64_t result = 0; SNPEMU_GHCB_EQ(ApResetHoldResponse); };
/// PREF_GPA_RESP (0x011): preferred GHCB GFN in 63:12, kPrefGpaNone for none.
struct PrefGpaResponse { uint64_t gfn = kPrefGpaNone; SNPEMU_GHCB_EQ(PrefGpaResponse); };
/// REG_GPA_RESP (0x013): the registered GFN echoed in 63:12.
struct RegGpaResponse { uint64_t gfn = 0; SNPEMU_GHCB_EQ(RegGpaResponse); };
/// PSC_RESP (0x015): error in 63:32; 0 success, 0x8000'0000 KVM's generic error.
struct PscMsrResponse { uint32_t error = 0; SNPEMU_GHCB_EQ(PscMsrResponse); };
/// VMPL_RESP (0x017): result in 63:32.
struct VmplResponse { uint32_t result = 0; SNPEMU_GHCB_EQ(VmplResponse); };
/// HV_FT_RESP (0x081): feature bitmap in 63:12 (PLATFORM-FACTS 1.5).
struct HvFeaturesResponse { uint64_t features = 0; SNPEMU_GHCB_EQ(HvFeaturesResponse); };
#undef SNPEMU_GHCB_EQ

/// A hypervisor-to-guest MSR protocol response.
using MsrResponse = std::variant<SevInfoResponse, CpuidResponse, ApResetHoldResponse,
                                 PrefGpaResponse, RegGpaResponse, PscMsrResponse, VmplResponse,
                                 HvFeaturesResponse>;

/// HV feature bits (PLATFORM-FACTS 1.5 [L] sev-common.h GHCB_HV_FT_*).
inline constexpr uint64_t kHvFtSnp = uint64_t{1} << 0;
inline constexpr uint64_t kHvFtSnpApCreation = uint64_t{1} << 1;
inline constexpr uint64_t kHvFtSnpMultiVmpl = uint64_t{1} << 5;
/// What upstream KVM advertises (GHCB_HV_FT_SUPPORTED) [L].
inline constexpr uint64_t kHvFtKvmSupported = kHvFtSnp | kHvFtSnpApCreation;

/// Termination reason sets and the general set-0 codes (PLATFORM-FACTS 1.7 [L]).
inline constexpr uint8_t kTermSetGeneral = 0;
inline constexpr uint8_t kTermSetLinux = 1;
inline constexpr uint8_t kTermGeneralRequest = 0;
inline constexpr uint8_t kTermProtocolUnsupported = 1;
inline constexpr uint8_t kTermSnpUnsupported = 2;

/// How strictly data fields are checked. KVM (the default) masks every field and never rejects
/// a reserved bit [L] sev.c sev_handle_vmgexit_msr_protocol; `reject_reserved_bits` applies the
/// GHCB spec's must-be-zero fields instead. UNCONFIRMED: the exact must-be-zero set is from the
/// field layouts in PLATFORM-FACTS 1.2 (every bit not named there), not from the spec text.
struct MsrDecodePolicy { bool reject_reserved_bits = false; };

/// Decodes a GHCB MSR value written by the guest. Unknown GHCBInfo -> kMsrUnknownCode (code =
/// the value, which KVM leaves unchanged). With the strict policy a reserved bit set ->
/// kMsrMalformed whose code is the MSR answer (kMsrPscRespError for PSC, else the value itself;
/// UNCONFIRMED: the protocol defines no error answer for the other codes). VM-dependent rules
/// stay with the caller: PREF_GPA, REG_GPA and PSC from a non-SNP guest terminate (1.6, 1.9).
std::expected<MsrRequest, GhcbError> decode_msr_request(uint64_t msr, MsrDecodePolicy policy = {});
/// Encodes a request as the guest writes it (fields masked to their widths).
uint64_t encode_msr_request(const MsrRequest& req);
/// Decodes a hypervisor response (guest side, traces). Same error rules as decode_msr_request.
std::expected<MsrResponse, GhcbError> decode_msr_response(uint64_t msr,
                                                          MsrDecodePolicy policy = {});
/// Encodes a response (fields masked to their widths; CPUID bits 29:12 zero).
uint64_t encode_msr_response(const MsrResponse& resp);
/// KVM's CPUID answer: keeps request bits 31:12, writes value in 63:32 and code 0x005 [L].
uint64_t kvm_cpuid_msr_response(uint64_t request_msr, uint32_t value);
/// True when KVM forwards the PSC request to userspace (operation 1 or 2) [L] snp_begin_psc_msr.
bool psc_msr_operation_supported(const PscMsrRequest& req);
/// GHCBInfo of a value (bits 11:0).
constexpr uint16_t msr_info(uint64_t msr) { return static_cast<uint16_t>(msr & kMsrInfoMask); }
/// Name of a GHCBInfo code ("CPUID_REQ", ...), "UNKNOWN" otherwise.
std::string_view msr_code_name(uint16_t code);

// ========================================================================================= page.cc
// GHCB page layout. PLATFORM-FACTS 2.1 [L] asm/svm.h struct ghcb_save_area / struct ghcb.

inline constexpr size_t kGhcbPageSize = 4096;
inline constexpr size_t kGhcbSharedBufferOffset = 0x800;
inline constexpr size_t kGhcbSharedBufferSize = 0x7F0;  // 2032
inline constexpr size_t kGhcbSharedBufferEnd = kGhcbSharedBufferOffset + kGhcbSharedBufferSize;

/// The save area (first 0x408 bytes); names verbatim from asm/svm.h. Offsets match the VMSA.
struct GhcbSaveArea {
  uint8_t reserved_0x0[203];
  uint8_t cpl;
  uint8_t reserved_0xcc[116];
  uint64_t xss;
  uint8_t reserved_0x148[24];
  uint64_t dr7;
  uint8_t reserved_0x168[16];
  uint64_t rip;
  uint8_t reserved_0x180[88];
  uint64_t rsp;
  uint8_t reserved_0x1e0[24];
  uint64_t rax;
  uint8_t reserved_0x200[264];
  uint64_t rcx, rdx, rbx;
  uint8_t reserved_0x320[8];
  uint64_t rbp, rsi, rdi;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint8_t reserved_0x380[16];
  uint64_t sw_exit_code, sw_exit_info_1, sw_exit_info_2, sw_scratch;
  uint8_t reserved_0x3b0[56];
  uint64_t xcr0;
  uint8_t valid_bitmap[16];
  uint64_t x87_state_gpa;  ///< GHCB v2 field; no bitmap bit.
};

/// The whole 4 KiB page.
struct GhcbPage {
  GhcbSaveArea save;
  uint8_t reserved_0x408[0x800 - 0x408];
  uint8_t shared_buffer[kGhcbSharedBufferSize];
  uint8_t reserved_0xff0[10];
  uint16_t protocol_version;
  uint32_t ghcb_usage;
};

#define SNPEMU_GHCB_OFFSET(field, off) \
  static_assert(offsetof(GhcbSaveArea, field) == (off), #field " offset (PLATFORM-FACTS 2.1)")
SNPEMU_GHCB_OFFSET(cpl, 0x0CB); SNPEMU_GHCB_OFFSET(xss, 0x140); SNPEMU_GHCB_OFFSET(dr7, 0x160);
SNPEMU_GHCB_OFFSET(rip, 0x178); SNPEMU_GHCB_OFFSET(rsp, 0x1D8); SNPEMU_GHCB_OFFSET(rax, 0x1F8);
SNPEMU_GHCB_OFFSET(rcx, 0x308); SNPEMU_GHCB_OFFSET(rdx, 0x310); SNPEMU_GHCB_OFFSET(rbx, 0x318);
SNPEMU_GHCB_OFFSET(rbp, 0x328); SNPEMU_GHCB_OFFSET(rsi, 0x330); SNPEMU_GHCB_OFFSET(rdi, 0x338);
SNPEMU_GHCB_OFFSET(r8, 0x340); SNPEMU_GHCB_OFFSET(r15, 0x378);
SNPEMU_GHCB_OFFSET(sw_exit_code, 0x390);
SNPEMU_GHCB_OFFSET(sw_exit_info_1, 0x398); SNPEMU_GHCB_OFFSET(sw_exit_info_2, 0x3A0);
SNPEMU_GHCB_OFFSET(sw_scratch, 0x3A8);
SNPEMU_GHCB_OFFSET(xcr0, 0x3E8); SNPEMU_GHCB_OFFSET(valid_bitmap, 0x3F0);
SNPEMU_GHCB_OFFSET(x87_state_gpa, 0x400);
#undef SNPEMU_GHCB_OFFSET
static_assert(sizeof(GhcbSaveArea) == 0x408);
static_assert(offsetof(GhcbPage, shared_buffer) == kGhcbSharedBufferOffset);
static_assert(offsetof(GhcbPage, reserved_0xff0) == kGhcbSharedBufferEnd);
static_assert(offsetof(GhcbPage, protocol_version) == 0xFFA);
static_assert(offsetof(GhcbPage, ghcb_usage) == 0xFFC);
static_assert(sizeof(GhcbPage) == kGhcbPageSize);

/// Save-area fields that have a valid-bitmap bit; the value is the bit index = offset / 8.
enum class GhcbField : uint8_t {
  kCpl = 25, kXss = 40, kDr7 = 44, kRip = 47, kRsp = 59, kRax = 63,
  kRcx = 97, kRdx = 98, kRbx = 99, kRbp = 101, kRsi = 102, kRdi = 103,
  kR8 = 104, kR9, kR10, kR11, kR12, kR13, kR14, kR15 = 111,
  kSwExitCode = 114, kSwExitInfo1 = 115, kSwExitInfo2 = 116, kSwScratch = 117, kXcr0 = 125,
};
/// Save-area byte offset of a field (bit index * 8; cpl is the byte at 0xCB).
size_t ghcb_field_offset(GhcbField f);
/// Name of a field, verbatim from the spec ("sw_exit_info_1", ...).
std::string_view ghcb_field_name(GhcbField f);

/// The 128-bit valid bitmap: bit i at byte i / 8, bit i % 8. PLATFORM-FACTS 2.1.
struct ValidBitmap {
  std::array<uint8_t, 16> bytes{};
  constexpr bool test(unsigned bit) const {
    return bit < 128 && ((bytes[bit / 8] >> (bit % 8)) & 1);
  }
  constexpr void set(unsigned bit) { if (bit < 128) bytes[bit / 8] |= uint8_t(1u << (bit % 8)); }
  constexpr void clear(unsigned bit) {
    if (bit < 128) bytes[bit / 8] &= uint8_t(~(1u << (bit % 8)));
  }
  constexpr bool test(GhcbField f) const { return test(static_cast<unsigned>(f)); }
  constexpr void set(GhcbField f) { set(static_cast<unsigned>(f)); }
  constexpr bool operator==(const ValidBitmap&) const = default;
};

/// One copy of the guest's GHCB page, taken once (STYLE rule 12): validate and act on the copy,
/// never re-read guest memory. Plain data; cheap to copy.
class GhcbSnapshot {
 public:
  /// Copies exactly 4096 bytes once.
  static GhcbSnapshot take(std::span<const std::byte, kGhcbPageSize> guest_page);
  const GhcbPage& page() const { return page_; }
  ValidBitmap valid_bitmap() const;
  bool is_valid(GhcbField f) const { return valid_bitmap().test(f); }
  /// Raw 64-bit field value regardless of its valid bit (cpl zero-extended).
  uint64_t raw(GhcbField f) const;
  /// The field if its valid bit is set, else 0 (KVM kvm_ghcb_get_*_if_valid) [L].
  uint64_t get_if_valid(GhcbField f) const { return is_valid(f) ? raw(f) : 0; }
  /// Bytes [offset, offset + len) of the copy; empty if out of range.
  std::span<const std::byte> bytes(size_t offset, size_t len) const;

 private:
  GhcbPage page_{};
};

/// What KVM's sev_es_sync_from_ghcb takes from the page [L]: exit fields unconditionally,
/// registers, CPL, scratch only when valid (else 0), XCR0 when valid.
struct VmgexitInputs {
  uint64_t sw_exit_code = 0, sw_exit_info_1 = 0, sw_exit_info_2 = 0;
  uint64_t sw_scratch = 0;
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0;
  uint8_t cpl = 0;
  std::optional<uint64_t> xcr0;
  ValidBitmap valid;
  uint16_t protocol_version = 0;
  uint32_t ghcb_usage = 0;
};
/// Applies those rules to a snapshot (the caller then zeroes the guest's bitmap).
VmgexitInputs kvm_sync_from_ghcb(const GhcbSnapshot& s);

/// The registers and exit info KVM writes back into the guest page on every GHCB exit.
struct GhcbResponse {
  uint64_t sw_exit_info_1 = 0, sw_exit_info_2 = 0;
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0;
};
/// Response for an error, with registers as given (KVM writes them whatever happened).
GhcbResponse response_for_error(const GhcbError& e, const GhcbResponse& regs = {});
/// Exception request (EXITINFO1 = 1): EXITINFO2 in event-injection format, vector 7:0, type 3
/// (exception) in 10:8, error-code-valid bit 11, valid bit 31, error code 63:32. PLATFORM-FACTS
/// 2.2 [L]; older KVM answered a bad AP_JUMP_TABLE sub-function with #UD (vector 6) this way.
GhcbResponse exception_response(uint8_t vector, std::optional<uint32_t> error_code,
                                const GhcbResponse& regs = {});

/// Zeroes the valid bitmap in the guest page (KVM does so after its copy) [L].
void clear_valid_bitmap(std::span<std::byte, kGhcbPageSize> page);
/// Writes a field's 8 bytes (1 for cpl) and sets its valid bit, as the svm.h setters do [L].
void write_field(std::span<std::byte, kGhcbPageSize> page, GhcbField f, uint64_t value);
/// Writes SW_EXITINFO1/2 with their valid bits.
void write_exit_info(std::span<std::byte, kGhcbPageSize> page, uint64_t info1, uint64_t info2);
/// Writes RAX, RBX, RCX, RDX with their valid bits (KVM sev_es_sync_to_ghcb) [L].
void write_gprs(std::span<std::byte, kGhcbPageSize> page, const GhcbResponse& r);
/// KVM's whole answer: clear bitmap, then EXITINFO1/2, then RAX/RBX/RCX/RDX, each with its bit.
void write_ghcb_response(std::span<std::byte, kGhcbPageSize> page, const GhcbResponse& r);

// ========================================================================================== nae.cc
// NAE exit codes in sw_exit_code. PLATFORM-FACTS 2.3 [L] uapi/asm/svm.h, [3P] edk2.

/// sw_exit_code values: SVM exit codes usable through the GHCB, then software-defined codes.
enum class NaeExitCode : uint64_t {
  kDr7Read = 0x027, kDr7Write = 0x037, kRdtsc = 0x06E, kRdpmc = 0x06F, kCpuid = 0x072,
  kInvd = 0x076, kIoio = 0x07B, kMsr = 0x07C, kVmmcall = 0x081, kRdtscp = 0x087,
  kWbinvd = 0x089, kMonitor = 0x08A, kMwait = 0x08B, kNpf = 0x400,
  kMmioRead = 0x8000'0001, kMmioWrite = 0x8000'0002, kNmiComplete = 0x8000'0003,
  kApHltLoop = 0x8000'0004, kApJumpTable = 0x8000'0005, kPsc = 0x8000'0010,
  kGuestRequest = 0x8000'0011, kExtGuestRequest = 0x8000'0012, kApCreation = 0x8000'0013,
  kHvDoorbellPage = 0x8000'0014, kHvIpi = 0x8000'0015, kHvTimer = 0x8000'0016,
  kGetApicIds = 0x8000'0017, kSnpRunVmpl = 0x8000'0018, kSecureAvic = 0x8000'001A,
  kTioGuestRequest = 0x8000'0020, kHvFeatures = 0x8000'FFFD, kTermRequest = 0x8000'FFFE,
  kUnsupportedEvent = 0x8000'FFFF,
};

/// Extra, value-dependent input rules of KVM's sev_es_validate_vmgexit (PLATFORM-FACTS 2.4).
enum class NaeCondition : uint8_t {
  kNone,
  kCpuidXcr0IfRaxIsD,          ///< XCR0 also required when RAX == 0xD.
  kIoioScratchOrRax,           ///< EXITINFO1 bit 2 (string): sw_scratch; else bit 0 clear: RAX.
  kMsrWriteRaxRdx,             ///< EXITINFO1 != 0 (WRMSR): RAX and RDX.
  kApCreationRaxUnlessDestroy, ///< RAX unless EXITINFO1[31:0] == 2 (destroy).
  kGuestRequestPages,          ///< EXITINFO1, EXITINFO2 page aligned and different.
};

/// One row: a code, its name, whether KVM's validation accepts it, and its required inputs.
struct NaeEventRow {
  NaeExitCode code;
  std::string_view name;        ///< uapi svm.h name without the SVM_EXIT_/SVM_VMGEXIT_ prefix
  bool kvm_accepts;             ///< false: KVM answers INVALID_EVENT (2, 6)
  bool snp_only;                ///< non-SNP guest: MISSING_INPUT (2, 4) as KVM answers
  std::array<GhcbField, 3> required;  ///< first `required_count` are always required
  uint8_t required_count;
  NaeCondition condition;
};
/// All rows, sorted by code.
std::span<const NaeEventRow> nae_event_table();
/// Row for a code, or nullptr.
const NaeEventRow* find_nae_event(uint64_t sw_exit_code);
/// Name for a code ("CPUID", "PSC", ...), "UNKNOWN" otherwise.
std::string_view nae_exit_name(uint64_t sw_exit_code);

/// AP_CREATION requests in EXITINFO1[31:0] [L]; APIC ID in EXITINFO1[63:32].
enum class ApCreationRequest : uint32_t { kCreateOnInit = 0, kCreate = 1, kDestroy = 2 };
/// AP_JUMP_TABLE sub-functions in EXITINFO1 [L].
enum class ApJumpTableRequest : uint64_t { kSet = 0, kGet = 1 };
/// TERM_REQUEST NAE form: EXITINFO1[3:0] reason set, [11:4] reason code [L uapi svm.h].
TermRequest decode_nae_term(uint64_t sw_exit_info_1);

// ===================================================================================== validate.cc

/// Facts about the VM the validation depends on.
struct VmgexitContext { bool snp_guest = false; };

/// KVM's sev_es_validate_vmgexit on the copy [L] (PLATFORM-FACTS 2.4): ghcb_usage != 0 ->
/// INVALID_USAGE; exit code/info1/info2 not valid or a required input missing -> MISSING_INPUT;
/// code KVM does not accept -> INVALID_EVENT. Errors are kMalformedInput.
std::expected<void, GhcbError> validate_vmgexit(const GhcbSnapshot& s, const VmgexitContext& ctx);

inline constexpr uint64_t kScratchAreaLimit = 16 * 4096;  // GHCB_SCRATCH_AREA_LIMIT [L]

/// Where a validated scratch area lives.
struct ScratchArea {
  uint64_t gpa = 0;
  uint64_t len = 0;
  bool in_ghcb = false;       ///< inside the GHCB shared buffer: accessed in place
  uint16_t ghcb_offset = 0;   ///< page offset when in_ghcb
  constexpr bool operator==(const ScratchArea&) const = default;
};
/// KVM's setup_vmgexit_scratch checks [L] (PLATFORM-FACTS 2.5): GPA 0, gpa + len overflow,
/// starting in the GHCB page but not wholly inside [0x800, 0xFF0), or outside the GHCB and
/// len > 16 pages -> INVALID_SCRATCH_AREA (kMalformedInput).
std::expected<ScratchArea, GhcbError> check_scratch_area(uint64_t ghcb_gpa, uint64_t scratch_gpa,
                                                         uint64_t len);
/// For a scratch area inside the GHCB: the copy's bytes from its offset to the end of the page,
/// which KVM accesses in place (the PSC descriptor is read there whatever the length says).
/// Empty when the area is not in the GHCB.
std::span<const std::byte> scratch_bytes_in_ghcb(const GhcbSnapshot& s, const ScratchArea& a);
/// Scratch length of string I/O: count (EXITINFO2) x size; nullopt when count > INT_MAX or the
/// product overflows int, where KVM fails KVM_RUN with -EINVAL (not a guest answer) [L].
std::optional<uint64_t> string_io_scratch_len(uint64_t count, unsigned size);

// ========================================================================================== psc.cc
// Page State Change descriptor. PLATFORM-FACTS 3.1-3.3 [L] sev-common.h, sev.c snp_begin_psc.
// KVM's order for the NAE event: validate_vmgexit; check_scratch_area(ghcb_gpa, sw_scratch,
// sw_exit_info_2); if userspace has not enabled KVM_HC_MAP_GPA_RANGE exits -> kGenericError;
// parse_psc_desc (header); psc_scan_begin + psc_scan_next; for each batch exit to the VMM and call
// psc_scan_complete(ret); finally write psc_write_back's bytes at the scratch area and answer
// (SW_EXITINFO1 = 0, SW_EXITINFO2 = status).

inline constexpr size_t kPscMaxEntries = 253;  // VMGEXIT_PSC_MAX_COUNT
inline constexpr size_t kPscHeaderSize = 8;
inline constexpr size_t kPscEntrySize = 8;
inline constexpr size_t kPscMaxBytes = kPscHeaderSize + kPscMaxEntries * kPscEntrySize;  // 2032
/// KVM_HC_MAP_GPA_RANGE attribute bits [L] uapi kvm_para.h (PLATFORM-FACTS 7.2).
inline constexpr uint64_t kMapGpaRangeEncrypted = uint64_t{1} << 4;
inline constexpr uint64_t kMapGpaRangePageSz2M = 1;

/// Descriptor header (8 bytes): cur_entry u16 @0, end_entry u16 @2, reserved u32 @4.
struct PscHeader {
  uint16_t cur_entry = 0;
  uint16_t end_entry = 0;  ///< inclusive
  uint32_t reserved = 0;   ///< not checked by KVM
  constexpr bool operator==(const PscHeader&) const = default;
};

/// One entry, decoded from its 64 bits: cur_page 11:0, gfn 51:12, operation 55:52,
/// pagesize 56, reserved 63:57.
struct PscEntry {
  uint16_t cur_page = 0;
  uint64_t gfn = 0;
  uint8_t operation = 0;
  bool pagesize = false;  ///< true = 2 MiB
  uint8_t reserved = 0;
  static PscEntry decode(uint64_t raw);
  uint64_t encode() const;
  constexpr bool operator==(const PscEntry&) const = default;
};

/// The copy of a descriptor: header, raw entries, and how many entries the source bytes held.
struct PscDesc {
  PscHeader hdr;
  std::array<uint64_t, kPscMaxEntries> entries{};
  uint16_t entries_present = 0;  ///< full 8-byte entries inside the source span (<= 253)
  PscEntry entry(size_t i) const { return PscEntry::decode(entries[i]); }
};

/// Copies the descriptor out of `bytes` once and checks the header: fewer than 8 bytes or
/// end_entry >= 253 -> kInvalidHeader (kPscStatus). Entries are checked by the scan, at the
/// point KVM checks them, so earlier ranges are converted first exactly as in KVM.
std::expected<PscDesc, GhcbError> parse_psc_desc(std::span<const std::byte> bytes);

/// One KVM_HC_MAP_GPA_RANGE exit: the next contiguous range (PLATFORM-FACTS 3.3 steps 5-6).
struct PscBatch {
  uint64_t gpa = 0;          ///< args[0] = gfn << 12
  uint64_t npages = 0;       ///< args[1]
  uint64_t attributes = 0;   ///< args[2] exactly as KVM computes it
  bool to_private = false;   ///< operation 1
  bool page_size_2m = false; ///< first entry's pagesize bit, even if it was partial (quirk)
  uint16_t first_entry = 0;  ///< psc_idx
  uint16_t entry_count = 0;  ///< psc_inflight
  constexpr bool operator==(const PscBatch&) const = default;
};

/// Resumable state of one PSC NAE event: the copy plus KVM's in-flight bookkeeping. Plain data;
/// the hypervisor stores it on the vCPU across the VMM round trip (STYLE rule 11).
struct PscScan {
  PscDesc desc;
  uint16_t inflight_idx = 0;
  uint16_t inflight_count = 0;
  bool inflight_2m = false;  ///< KVM psc_2m (kept for fidelity; not used to build the exit)
};

/// Result of a scan step: either a batch to send to the VMM or the final SW_EXITINFO2 status.
struct PscStep {
  std::optional<PscBatch> batch;
  PscStatus status = PscStatus::kSuccess;  ///< meaningful when !batch
  bool done() const { return !batch.has_value(); }
};

/// Starts a scan over a parsed copy.
PscScan psc_scan_begin(const PscDesc& desc);
/// KVM snp_begin_psc from `next_range` (steps 2-7): skips finished entries, validates, coalesces,
/// completes non-1/2 operations silently; returns the next batch or the final status.
PscStep psc_scan_next(PscScan& scan);
/// KVM snp_complete_one_psc (step 8): hypercall_ret != 0 -> done with kGenericError (progress so
/// far kept); else marks in-flight entries done (cur_page = 512 or 1), then psc_scan_next.
PscStep psc_scan_complete(PscScan& scan, uint64_t hypercall_ret);
/// Serializes the copy back (header, then the present entries): the bytes to write at the scratch
/// area. Writes min(dst.size(), 8 + 8 * entries_present) bytes; returns the count.
size_t psc_write_back(const PscDesc& desc, std::span<std::byte> dst);

}  // namespace snpemu::ghcb
