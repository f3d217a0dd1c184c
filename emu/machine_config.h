// emu/machine_config.h: the configuration a Machine is built from.
//
// Plain data, recorded later in every trace and snapshot header. Defaults are the built-in
// default scenario of `snpemu run`.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

namespace snpemu {

/// What machine to build.
struct MachineConfig {
  /// Host-physical RAM in bytes (sparse: untouched memory costs nothing).
  uint64_t mem_bytes = uint64_t{4} << 30;
  /// Number of emulated cores.
  uint32_t cores = 1;
  /// CPU timing profile name.
  std::string cpu_profile = "zen4";
  /// SEV-SNP enabled (SYSCFG.SNP_EN): the machine reserves an RMP covering all RAM at the top
  /// of memory and every core checks guest and host accesses against it.
  bool snp = true;
  /// Memory encryption modelled (the memory controller's key slots): SEV guests' private
  /// memory and VMSAs are ciphertext to the host. Off: C-bit accesses read and write plain
  /// memory (used for SEV-ES guests until the AMD-SP model has the legacy SEV launch commands
  /// that would install their keys).
  bool memory_encryption = true;
  /// Seed for every model-internal pseudo-random choice (keys, platform secrets).
  uint64_t seed = 0x534E'5045'4D55'0001;  // "SNPEMU" + 1

  /// Largest supported core count. UNCONFIRMED: a model limit (2 sockets x 192 Zen 4c cores
  /// = 384 would be the largest EPYC host); chosen to bound per-core state.
  static constexpr uint32_t kMaxCores = 384;
};

/// Checks a configuration; returns one precise line naming the bad field.
std::expected<void, std::string> validate(const MachineConfig& config);

/// Multi-line human-readable description, one "key: value" per line.
std::string describe(const MachineConfig& config);

}  // namespace snpemu
