// ghcb/nae.cc: NAE exit codes and the inputs KVM requires for each.
// Codes: PLATFORM-FACTS 2.3 [L] uapi/asm/svm.h, [3P] edk2. Inputs: PLATFORM-FACTS 2.4 [L]
// arch/x86/kvm/svm/sev.c sev_es_validate_vmgexit. A code KVM's switch does not list answers
// INVALID_EVENT, so those rows carry kvm_accepts = false.
#include <algorithm>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

using C = NaeExitCode;
using F = GhcbField;
using K = NaeCondition;

constexpr NaeEventRow row(C code, std::string_view name, bool accepts, bool snp_only,
                          std::array<F, 3> req, uint8_t n, K cond) {
  return NaeEventRow{code, name, accepts, snp_only, req, n, cond};
}
constexpr std::array<F, 3> kNone{};

// clang-format off
constexpr NaeEventRow kTable[] = {
  //  code                 name                     KVM    SNP    always required            n  condition
  row(C::kDr7Read,         "READ_DR7",              true,  false, kNone,                     0, K::kNone),
  row(C::kDr7Write,        "WRITE_DR7",             true,  false, {F::kRax},                 1, K::kNone),
  row(C::kRdtsc,           "RDTSC",                 true,  false, kNone,                     0, K::kNone),
  row(C::kRdpmc,           "RDPMC",                 true,  false, {F::kRcx},                 1, K::kNone),
  row(C::kCpuid,           "CPUID",                 true,  false, {F::kRax, F::kRcx},        2, K::kCpuidXcr0IfRaxIsD),
  row(C::kInvd,            "INVD",                  true,  false, kNone,                     0, K::kNone),
  row(C::kIoio,            "IOIO",                  true,  false, kNone,                     0, K::kIoioScratchOrRax),
  row(C::kMsr,             "MSR",                   true,  false, {F::kRcx},                 1, K::kMsrWriteRaxRdx),
  row(C::kVmmcall,         "VMMCALL",               true,  false, {F::kRax, F::kCpl},        2, K::kNone),
  row(C::kRdtscp,          "RDTSCP",                true,  false, kNone,                     0, K::kNone),
  row(C::kWbinvd,          "WBINVD",                true,  false, kNone,                     0, K::kNone),
  row(C::kMonitor,         "MONITOR",               true,  false, {F::kRax, F::kRcx, F::kRdx}, 3, K::kNone),
  row(C::kMwait,           "MWAIT",                 true,  false, {F::kRax, F::kRcx},        2, K::kNone),
  row(C::kNpf,             "NPF",                   false, false, kNone,                     0, K::kNone),
  row(C::kMmioRead,        "MMIO_READ",             true,  false, {F::kSwScratch},           1, K::kNone),
  row(C::kMmioWrite,       "MMIO_WRITE",            true,  false, {F::kSwScratch},           1, K::kNone),
  row(C::kNmiComplete,     "NMI_COMPLETE",          true,  false, kNone,                     0, K::kNone),
  row(C::kApHltLoop,       "AP_HLT_LOOP",           true,  false, kNone,                     0, K::kNone),
  row(C::kApJumpTable,     "AP_JUMP_TABLE",         true,  false, kNone,                     0, K::kNone),
  row(C::kPsc,             "PSC",                   true,  true,  {F::kSwScratch},           1, K::kNone),
  row(C::kGuestRequest,    "GUEST_REQUEST",         true,  true,  kNone,                     0, K::kGuestRequestPages),
  row(C::kExtGuestRequest, "EXT_GUEST_REQUEST",     true,  true,  kNone,                     0, K::kGuestRequestPages),
  row(C::kApCreation,      "AP_CREATION",           true,  true,  kNone,                     0, K::kApCreationRaxUnlessDestroy),
  // [L-patch] codes: not in the KVM switch read, so INVALID_EVENT.
  row(C::kHvDoorbellPage,  "HV_DOORBELL_PAGE",      false, false, kNone,                     0, K::kNone),
  row(C::kHvIpi,           "HV_IPI",                false, false, kNone,                     0, K::kNone),
  // UNCONFIRMED: 0x8000_0016 as the #HV timer code (PLATFORM-FACTS 2.3).
  row(C::kHvTimer,         "HV_TIMER",              false, false, kNone,                     0, K::kNone),
  row(C::kGetApicIds,      "GET_APIC_IDS",          false, false, kNone,                     0, K::kNone),
  row(C::kSnpRunVmpl,      "SNP_RUN_VMPL",          false, false, kNone,                     0, K::kNone),
  row(C::kSecureAvic,      "SAVIC",                 false, false, kNone,                     0, K::kNone),
  row(C::kTioGuestRequest, "SEV_TIO_GUEST_REQUEST", false, false, kNone,                     0, K::kNone),
  row(C::kHvFeatures,      "HV_FEATURES",           true,  false, kNone,                     0, K::kNone),
  row(C::kTermRequest,     "TERM_REQUEST",          true,  false, kNone,                     0, K::kNone),
  row(C::kUnsupportedEvent,"UNSUPPORTED_EVENT",     true,  false, kNone,                     0, K::kNone),
};
// clang-format on

constexpr bool sorted_unique() {
  for (size_t i = 1; i < std::size(kTable); ++i) {
    if (kTable[i - 1].code >= kTable[i].code) return false;
  }
  return true;
}
static_assert(sorted_unique(), "NAE table must be sorted by code with no duplicates");

}  // namespace

std::span<const NaeEventRow> nae_event_table() { return kTable; }

const NaeEventRow* find_nae_event(uint64_t sw_exit_code) {
  const auto* it = std::lower_bound(
      std::begin(kTable), std::end(kTable), sw_exit_code,
      [](const NaeEventRow& r, uint64_t c) { return static_cast<uint64_t>(r.code) < c; });
  if (it == std::end(kTable) || static_cast<uint64_t>(it->code) != sw_exit_code) return nullptr;
  return it;
}

std::string_view nae_exit_name(uint64_t sw_exit_code) {
  const NaeEventRow* r = find_nae_event(sw_exit_code);
  return r ? r->name : "UNKNOWN";
}

TermRequest decode_nae_term(uint64_t sw_exit_info_1) {
  // SW_EXITINFO1[3:0] reason set, [11:4] reason code [L uapi svm.h] (PLATFORM-FACTS 1.7).
  return TermRequest{static_cast<uint8_t>(sw_exit_info_1 & 0xF),
                     static_cast<uint8_t>((sw_exit_info_1 >> 4) & 0xFF)};
}

}  // namespace snpemu::ghcb
