// emu/machine_config.cc
#include "emu/machine_config.h"

#include <cinttypes>
#include <cstdio>

#include "emu/mem/memory.h"

namespace snpemu {

std::expected<void, std::string> validate(const MachineConfig& config) {
  if (config.mem_bytes == 0 || (config.mem_bytes & kPageOffsetMask) != 0 ||
      config.mem_bytes > Memory::kMaxSize) {
    return std::unexpected("mem: " + std::to_string(config.mem_bytes) +
                           " bytes is not a non-zero multiple of 4096 up to 256 TiB");
  }
  if (config.cores == 0 || config.cores > MachineConfig::kMaxCores) {
    return std::unexpected("cores: " + std::to_string(config.cores) + " is not in 1.." +
                           std::to_string(MachineConfig::kMaxCores));
  }
  if (config.cpu_profile != "zen4") {
    return std::unexpected("cpu profile: '" + config.cpu_profile +
                           "' is unknown (known profiles: zen4)");
  }
  return {};
}

static std::string human_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  while (u + 1 < std::size(kUnits) && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++u;
  }
  return std::to_string(bytes) + " " + kUnits[u];
}

std::string describe(const MachineConfig& config) {
  char seed[32];
  std::snprintf(seed, sizeof seed, "0x%016" PRIx64, config.seed);
  return "memory: " + human_size(config.mem_bytes) + " (" + std::to_string(config.mem_bytes) +
         " bytes, sparse)\n" + "cores: " + std::to_string(config.cores) + "\n" +
         "cpu profile: " + config.cpu_profile + "\n" + "snp: " + (config.snp ? "on" : "off") +
         "\n" + "memory encryption: " + (config.memory_encryption ? "on" : "off") + "\n" +
         "seed: " + seed + "\n";
}

}  // namespace snpemu
