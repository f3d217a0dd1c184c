// Decoder cross-check against Zydis 4.0 (an independent decoder): at least 1,000,000 seeded random
// byte strings per run. For every string our decoder accepts, Zydis must accept it with the same
// length; for every string Zydis accepts whose mnemonic we support (seen accepted by both in the
// same run), we must accept it with the same length. Exclusions are listed with their reasons.
// Seed: SNPEMU_SEED (decimal) overrides the default; it is printed in every failure.
#include <Zydis/Zydis.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "cpu/decode/decoder.h"
#include "test/cpu/insn_gen.h"
#include "test/util/splitmix64.h"

namespace snpemu::cpu {
namespace {

constexpr uint64_t kDefaultSeed = 0x5EED0003;
constexpr int kStrings = 1'000'000;

using SplitMix = snpemu::test::SplitMix64;

uint64_t seed() {
  const char* env = std::getenv("SNPEMU_SEED");
  return env ? std::strtoull(env, nullptr, 10) : kDefaultSeed;
}

// Half uniform bytes; half shaped like instructions (prefixes, REX, escapes) to reach the 0F maps.
std::array<uint8_t, 15> generate(SplitMix& r) {
  std::array<uint8_t, 15> b;
  for (auto& x : b) x = r.byte();
  if (r.below(2) == 0) return b;
  static constexpr uint8_t kPrefixes[] = {0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x64, 0x65};
  size_t pos = 0;
  const unsigned npfx = r.below(4);
  for (unsigned i = 0; i < npfx; ++i) b[pos++] = kPrefixes[r.below(8)];
  if (r.below(2)) b[pos++] = static_cast<uint8_t>(0x40 | r.below(16));
  const unsigned map = r.below(20);
  if (map >= 10) b[pos++] = 0x0F;
  if (map >= 17) b[pos++] = map >= 19 ? 0x3A : 0x38;
  return b;
}

// Why a disagreement is not a bug, or an empty string.
std::string excluded(const std::expected<DecodedInsn, DecodeError>& ours, const ZydisDecodedInstruction* z) {
  if (z != nullptr && z->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) {
    return "VEX/EVEX/XOP/3DNow! encodings are not supported (gcc -mgeneral-regs-only never emits them)";
  }
  if (ours && ours->row->id == InsnId::NOP_Ev && (ours->opcode == 0x1A || ours->opcode == 0x1B)) {
    return "0F 1A/1B: Zydis decodes Intel MPX (disabled mode -> invalid); AMD has no MPX and "
           "documents 0F 19-1F as NOP (APM vol 3, Table A-3)";
  }
  if (z != nullptr && z->mnemonic == ZYDIS_MNEMONIC_RDPRU) {
    return "Zydis 4.0 predates RMPREAD and calls F2 0F 01 FD rdpru; RDPRU itself is not supported yet";
  }
  return "";
}

TEST(Zydis, LengthsAgreeOnRandomStrings) {
  const uint64_t s = seed();
  ZydisDecoder zd;
  ASSERT_EQ(ZydisDecoderInit(&zd, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64), ZYAN_STATUS_SUCCESS);
  // AMD behaviour of 66-prefixed near branches (16-bit displacement), as our decoder.
  ASSERT_EQ(ZydisDecoderEnableMode(&zd, ZYDIS_DECODER_MODE_AMD_BRANCHES, ZYAN_TRUE), ZYAN_STATUS_SUCCESS);

  SplitMix rng(s);
  std::set<std::string> supported;  // Zydis mnemonics of strings both decoders accepted
  std::map<std::string, int> mismatches;
  std::map<std::string, std::string> examples;
  int failures = 0, ours_valid = 0, checked_reverse = 0;
  auto report = [&](const std::string& what, const std::array<uint8_t, 15>& b, int i) {
    std::string hex;
    for (uint8_t x : b) {
      char t[4];
      std::snprintf(t, sizeof t, "%02X ", x);
      hex += t;
    }
    if (++mismatches[what] == 1) examples[what] = hex;
    if (++failures <= 20) ADD_FAILURE() << "seed " << s << " string #" << i << " [" << hex << "]: " << what;
  };
  for (int pass = 0; pass < 2; ++pass) {
    rng = SplitMix(s);
    for (int i = 0; i < kStrings; ++i) {
      const auto b = generate(rng);
      auto ours = decode64(b);
      ZydisDecodedInstruction zi;
      const bool zok = ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&zd, nullptr, b.data(), b.size(), &zi));
      const std::string zm = zok ? ZydisMnemonicGetString(zi.mnemonic) : "";
      // Mnemonics are keyed with their opcode map and byte: "movsd" is both a string
      // instruction (A5) and an SSE2 move (F2 0F 10).
      // Group 7 (0F 01) register forms are distinct instructions per ModRM byte.
      std::string key = zok ? zm + "/" + std::to_string(zi.opcode_map) + "/" + std::to_string(zi.opcode) : "";
      if (zok && zi.opcode_map == ZYDIS_OPCODE_MAP_0F && zi.opcode == 0x01) {
        key += "/" + std::to_string(zi.raw.modrm.mod) + std::to_string(zi.raw.modrm.reg) + std::to_string(zi.raw.modrm.rm);
      }
      if (pass == 0) {
        if (!ours) continue;
        ++ours_valid;
        if (!zok) {
          if (excluded(ours, nullptr).empty()) report(std::string("we accept ") + std::string(insn_name(ours->row->id)) + ", Zydis rejects", b, i);
          continue;
        }
        if (zi.length != ours->length) {
          if (excluded(ours, &zi).empty()) {
            report(std::string(insn_name(ours->row->id)) + " length " + std::to_string(ours->length) +
                   " vs Zydis " + zm + " " + std::to_string(zi.length), b, i);
          }
          continue;
        }
        supported.insert(key);
      } else {
        if (ours || !zok || !supported.count(key)) continue;
        ++checked_reverse;
        if (!excluded(ours, &zi).empty()) continue;
        report("Zydis accepts " + zm + " (len " + std::to_string(zi.length) + "), we reject (" +
               std::to_string(static_cast<int>(ours.error())) + ")", b, i);
      }
    }
  }
  for (const auto& [what, n] : mismatches) std::printf("%8d  %s  e.g. %s\n", n, what.c_str(), examples[what].c_str());
  std::printf("seed %llu: %d strings, %d accepted by us, %d reverse-checked, %zu mnemonics\n",
              static_cast<unsigned long long>(s), kStrings, ours_valid, checked_reverse, supported.size());
  EXPECT_EQ(failures, 0) << "seed " << s;
  EXPECT_GT(ours_valid, kStrings / 4) << "the generator should mostly hit supported encodings";
}

}  // namespace
}  // namespace snpemu::cpu

namespace snpemu::cpu {
namespace {

// Every encoding the differential generator emits (the executor's supported forms with random
// prefixes, REX bits, ModRM/SIB, displacements and immediates): Zydis must decode the same
// instruction boundaries.
TEST(Zydis, GeneratedSequencesSplitIdentically) {
  ZydisDecoder zd;
  ASSERT_EQ(ZydisDecoderInit(&zd, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64), ZYAN_STATUS_SUCCESS);
  ASSERT_EQ(ZydisDecoderEnableMode(&zd, ZYDIS_DECODER_MODE_AMD_BRANCHES, ZYAN_TRUE), ZYAN_STATUS_SUCCESS);
  const uint64_t s = seed();
  int checked = 0, failures = 0;
  for (int i = 0; i < 20000; ++i) {
    testing::SplitMix64 rng(s + static_cast<uint64_t>(i));
    const testing::Sequence seq = testing::generate_sequence(rng, 12);
    size_t pos = 0;
    while (pos < seq.code.size()) {
      std::span<const uint8_t> rest(seq.code.data() + pos, seq.code.size() - pos);
      auto ours = decode64(rest);
      ZydisDecodedInstruction zi;
      const bool zok = ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&zd, nullptr, rest.data(), rest.size(), &zi));
      ++checked;
      if (!ours || !zok || zi.length != ours->length) {
        if (++failures <= 10) {
          ADD_FAILURE() << "seed " << s << " sequence " << i << " offset " << pos << ": snpemu "
                        << (ours ? std::to_string(ours->length) : std::string("invalid")) << ", Zydis "
                        << (zok ? std::to_string(zi.length) : std::string("invalid"));
        }
        break;
      }
      pos += ours->length;
    }
  }
  std::printf("seed %llu: %d generated instructions split identically\n", static_cast<unsigned long long>(s), checked);
  EXPECT_EQ(failures, 0);
  EXPECT_GT(checked, 100000);
}

}  // namespace
}  // namespace snpemu::cpu
