// test/guests/psc_loop_config.h: finds and patches psc_loop_config of the snp_psc_loop payload
// (test/guests/snp_psc_loop.c) inside its ELF file: the struct {u64 magic "PSCLOOP1"; u32 form;
// u32 rounds; u32 extra_private; u32 reserved} in .data. For the benchmark and the tests that run the payload with other settings.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace snpemu::test {

inline constexpr std::array<uint8_t, 8> kPscLoopMagic = {'P', 'S', 'C', 'L', 'O', 'O', 'P', '1'};
inline constexpr uint32_t kPscLoopPages = 64;  // PSC_LOOP_PAGES

/// psc_loop_config.form values.
enum class PscLoopForm : uint32_t { kAlternate = 0, kMsr = 1, kGhcb = 2 };

/// Writes `form`, `rounds` and `extra_private` into the (single) config of `elf`; false if the magic is absent
/// or present more than once.
inline bool patch_psc_loop_config(std::vector<uint8_t>& elf, PscLoopForm form, uint32_t rounds,
                                  bool extra_private = false) {
  auto at = std::search(elf.begin(), elf.end(), kPscLoopMagic.begin(), kPscLoopMagic.end());
  if (at == elf.end() || elf.end() - at < 24) return false;
  if (std::search(at + 1, elf.end(), kPscLoopMagic.begin(), kPscLoopMagic.end()) != elf.end()) {
    return false;
  }
  const uint32_t f = static_cast<uint32_t>(form);
  std::memcpy(&*(at + 8), &f, 4);
  std::memcpy(&*(at + 12), &rounds, 4);
  const uint32_t extra = extra_private ? 1 : 0;
  std::memcpy(&*(at + 16), &extra, 4);
  return true;
}

}  // namespace snpemu::test
