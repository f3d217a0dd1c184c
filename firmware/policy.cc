// firmware/policy.cc: the guest policy and the checks SNP_LAUNCH_START applies to it.
// Bits: PLATFORM-FACTS 8.5 [L psp-sev.h SNP_POLICY_MASK_*]. The checks follow the SNP ABI's
// description of each bit; the status for each is UNCONFIRMED beyond "POLICY_FAILURE" being the
// firmware's policy error (PLATFORM-FACTS 8.9).
#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {
namespace {

constexpr bool bit(uint64_t v, int n) { return (v >> n) & 1; }
constexpr uint64_t kReservedMask = ~((uint64_t{1} << 26) - 1);  // bits 63:26

FwError policy_error(uint64_t policy, std::string why) {
  return ossl::error(ErrorKind::kPolicyFailure, Status::kPolicyFailure,
                     "guest policy " + hex(policy) + ": " + std::move(why));
}

}  // namespace

GuestPolicy decode_policy(uint64_t p) {
  GuestPolicy g;
  g.abi_minor = static_cast<uint8_t>(p);
  g.abi_major = static_cast<uint8_t>(p >> 8);
  g.smt = bit(p, 16);
  g.rsvd_mbo = bit(p, 17);
  g.migrate_ma = bit(p, 18);
  g.debug = bit(p, 19);
  g.single_socket = bit(p, 20);
  g.cxl_allow = bit(p, 21);
  g.mem_aes_256_xts = bit(p, 22);
  g.rapl_dis = bit(p, 23);
  g.ciphertext_hiding_dram = bit(p, 24);
  g.page_swap_disable = bit(p, 25);
  g.reserved_bits = p & kReservedMask;
  return g;
}

uint64_t encode_policy(const GuestPolicy& g) {
  auto at = [](bool b, int n) { return uint64_t{b} << n; };
  return uint64_t{g.abi_minor} | (uint64_t{g.abi_major} << 8) | at(g.smt, 16) | at(g.rsvd_mbo, 17) |
         at(g.migrate_ma, 18) | at(g.debug, 19) | at(g.single_socket, 20) | at(g.cxl_allow, 21) |
         at(g.mem_aes_256_xts, 22) | at(g.rapl_dis, 23) | at(g.ciphertext_hiding_dram, 24) |
         at(g.page_swap_disable, 25) | (g.reserved_bits & kReservedMask);
}

std::expected<void, FwError> check_launch_start_policy(uint64_t policy,
                                                       const PlatformPolicyConfig& platform,
                                                       bool ma_en) {
  const GuestPolicy g = decode_policy(policy);
  // Bit 17 is reserved and must be one [L KVM snp_launch_start rejects it clear with -EINVAL];
  // UNCONFIRMED: that firmware itself answers POLICY_FAILURE.
  if (!g.rsvd_mbo) return std::unexpected(policy_error(policy, "reserved bit 17 must be 1"));
  // Bits the firmware does not know must be zero [L KVM masks with snp_supported_policy_bits,
  // which newer kernels read from SNP_FEATURE_INFO]. UNCONFIRMED: firmware status.
  if (uint64_t unknown = policy & ~platform.supported_policy_bits & ~uint64_t{0xFFFF}; unknown) {
    return std::unexpected(policy_error(policy, "unsupported bits " + hex(unknown) + " set"));
  }
  // ABI_MAJOR.ABI_MINOR is the minimum firmware ABI the guest requires (SNP ABI, guest policy).
  if (g.abi_major > platform.api_major ||
      (g.abi_major == platform.api_major && g.abi_minor > platform.api_minor)) {
    return std::unexpected(policy_error(
        policy, "requires ABI " + std::to_string(g.abi_major) + "." + std::to_string(g.abi_minor) +
                    ", firmware is " + std::to_string(platform.api_major) + "." +
                    std::to_string(platform.api_minor)));
  }
  if (!g.smt && platform.smt_enabled) {
    return std::unexpected(policy_error(policy, "SMT disallowed but SMT is enabled"));
  }
  // KVM leaves SINGLE_SOCKET to firmware [L commit "remove SINGLE_SOCKET check"].
  if (g.single_socket && platform.sockets > 1) {
    return std::unexpected(policy_error(
        policy, "single socket required, platform has " + std::to_string(platform.sockets)));
  }
  if (ma_en && !g.migrate_ma) {
    return std::unexpected(policy_error(policy, "MA_EN set but migration agent disallowed"));
  }
  // UNCONFIRMED: the next four follow the bit names (CXL allowed, AES-256-XTS required, RAPL
  // disable required, ciphertext hiding required); the firmware may check them differently.
  if (!g.cxl_allow && platform.cxl_present) {
    return std::unexpected(policy_error(policy, "CXL disallowed but CXL memory is present"));
  }
  if (g.mem_aes_256_xts && !platform.aes_256_xts_active) {
    return std::unexpected(policy_error(policy, "AES-256-XTS required but not active"));
  }
  if (g.rapl_dis && !platform.rapl_disabled) {
    return std::unexpected(policy_error(policy, "RAPL disable required but RAPL is enabled"));
  }
  if (g.ciphertext_hiding_dram && !platform.ciphertext_hiding_enabled) {
    return std::unexpected(policy_error(policy, "ciphertext hiding required but not enabled"));
  }
  return {};
}

}  // namespace snpemu::fw
