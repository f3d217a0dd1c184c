// Decoder state vectors: lengths and fields of hand-checked encodings (APM vol 3, ch. 1 and the
// instruction pages), the SVM / SEV-SNP encodings, the 15-byte limit and #UD cases.
#include <gtest/gtest.h>

#include <vector>

#include "cpu/decode/decoder.h"

namespace snpemu::cpu {
namespace {

std::expected<DecodedInsn, DecodeError> dec(std::vector<uint8_t> b) { return decode64(b); }

struct Vector {
  std::vector<uint8_t> bytes;
  InsnId id;
  uint8_t length;
};

TEST(Decoder, KnownEncodings) {
  const Vector cases[] = {
      {{0x48, 0x89, 0xD8}, InsnId::MOV_EvGv, 3},                             // mov rax, rbx
      {{0x8B, 0x05, 1, 2, 3, 4}, InsnId::MOV_GvEv, 6},                       // mov eax, [rip+d32]
      {{0x42, 0x8B, 0x04, 0x8D, 0, 0, 0, 0}, InsnId::MOV_GvEv, 8},           // mov eax, [r9*4+d32]
      {{0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00}, InsnId::NOP_Ev, 6},             // nop word [rax+rax]
      {{0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8}, InsnId::MOV_ZvIv, 10},          // movabs rax, imm64
      {{0x66, 0xB8, 1, 2}, InsnId::MOV_ZvIv, 4},                             // mov ax, imm16
      {{0xC8, 0x10, 0x00, 0x01}, InsnId::ENTER_IwIb, 4},                     // enter 16, 1
      {{0x81, 0x7C, 0x24, 0x08, 1, 0, 0, 0}, InsnId::CMP_EvIz, 8},           // cmp dword [rsp+8], 1
      {{0x41, 0xF7, 0xF0}, InsnId::DIV_Ev, 3},                               // div r8d
      {{0x0F, 0xAF, 0xC1}, InsnId::IMUL_GvEv, 3},                            // imul eax, ecx
      {{0xF3, 0x48, 0xAB}, InsnId::STOS_YvrAX, 3},                           // rep stosq
      {{0xF3, 0x0F, 0xB8, 0xC1}, InsnId::POPCNT_GvEv, 4},                    // popcnt eax, ecx
      {{0x0F, 0xBC, 0xC1}, InsnId::BSF_GvEv, 3},                             // bsf eax, ecx
      {{0xF3, 0x0F, 0xBC, 0xC1}, InsnId::TZCNT_GvEv, 4},                     // tzcnt eax, ecx
      {{0xF0, 0x48, 0x0F, 0xC7, 0x0E}, InsnId::CMPXCHG16B_M, 5},             // lock cmpxchg16b [rsi]
      {{0x0F, 0x20, 0xD8}, InsnId::MOV_RqCd, 3},                             // mov rax, cr3
      {{0x44, 0x0F, 0x22, 0xC0}, InsnId::MOV_CdRq, 4},                       // mov cr8, rax
      {{0x0F, 0x01, 0x15, 0, 0, 0, 0}, InsnId::LGDT_M, 7},                   // lgdt [rip+0]
      {{0x0F, 0x01, 0xF8}, InsnId::SWAPGS, 3},
      {{0x0F, 0x01, 0xF9}, InsnId::RDTSCP, 3},
      {{0x48, 0x0F, 0x07}, InsnId::SYSRET, 3},
      {{0x48, 0xCF}, InsnId::IRET, 2},
      {{0xE6, 0xE9}, InsnId::OUT_IbAL, 2},
      {{0xF3, 0x90}, InsnId::PAUSE, 2},
      {{0x0F, 0x38, 0xF0, 0x06}, InsnId::MOVBE_GvMv, 4},
      {{0x64, 0x48, 0x8B, 0x04, 0x25, 0x28, 0, 0, 0}, InsnId::MOV_GvEv, 9},  // mov rax, fs:0x28
      // SVM and SEV-SNP. APM vol 3; PLATFORM-FACTS encoding table.
      {{0x0F, 0x01, 0xD8}, InsnId::VMRUN, 3},
      {{0x0F, 0x01, 0xD9}, InsnId::VMMCALL, 3},
      {{0x0F, 0x01, 0xDA}, InsnId::VMLOAD, 3},
      {{0x0F, 0x01, 0xDB}, InsnId::VMSAVE, 3},
      {{0x0F, 0x01, 0xDC}, InsnId::STGI, 3},
      {{0x0F, 0x01, 0xDD}, InsnId::CLGI, 3},
      {{0x0F, 0x01, 0xDF}, InsnId::INVLPGA, 3},
      {{0xF3, 0x0F, 0x01, 0xD9}, InsnId::VMGEXIT, 4},
      {{0xF2, 0x0F, 0x01, 0xFF}, InsnId::PVALIDATE, 4},
      {{0xF3, 0x0F, 0x01, 0xFE}, InsnId::RMPADJUST, 4},
      {{0xF2, 0x0F, 0x01, 0xFE}, InsnId::RMPUPDATE, 4},
      {{0xF3, 0x0F, 0x01, 0xFF}, InsnId::PSMASH, 4},
      {{0xF2, 0x0F, 0x01, 0xFD}, InsnId::RMPREAD, 4},
  };
  for (const Vector& c : cases) {
    auto d = decode64(c.bytes);
    ASSERT_TRUE(d.has_value()) << "expected " << insn_name(c.id) << ", got error "
                               << static_cast<int>(d.error());
    EXPECT_EQ(d->row->id, c.id) << "expected " << insn_name(c.id) << ", got " << insn_name(d->row->id);
    EXPECT_EQ(d->length, c.length) << insn_name(c.id);
  }
}

TEST(Decoder, Fields) {
  auto d = dec({0x4E, 0x8B, 0x44, 0x8B, 0xF8});  // mov r8, [rbx + r9*4 - 8]
  ASSERT_TRUE(d);
  EXPECT_EQ(d->opsize, 8);
  EXPECT_EQ(d->reg, 8);
  EXPECT_EQ(d->base, 3);  // rbx
  EXPECT_EQ(d->index, 9);
  EXPECT_EQ(d->scale, 2);
  EXPECT_EQ(d->disp, -8);
  auto r = dec({0x8B, 0x05, 0xFC, 0xFF, 0xFF, 0xFF});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->base, kRipBase);
  EXPECT_EQ(r->disp, -4);
  auto s = dec({0x83, 0xC0, 0xFF});  // add eax, -1
  ASSERT_TRUE(s);
  EXPECT_EQ(s->imm, ~uint64_t{0});
  auto p = dec({0x66, 0x67, 0x89, 0x08});  // mov [eax], cx
  ASSERT_TRUE(p);
  EXPECT_EQ(p->opsize, 2);
  EXPECT_EQ(p->addrsize, 4);
  auto rex_legacy = dec({0x48, 0x66, 0x89, 0xC8});  // REX before a legacy prefix is ignored
  ASSERT_TRUE(rex_legacy);
  EXPECT_EQ(rex_legacy->opsize, 2);
}

TEST(Decoder, UndefinedAndLimits) {
  EXPECT_EQ(dec({0x06}).error(), DecodeError::kUndefined);              // push es: invalid in 64-bit
  EXPECT_EQ(dec({0xF0, 0x01, 0xC0}).error(), DecodeError::kUndefined);  // lock on a register
  EXPECT_EQ(dec({0xF0, 0x90}).error(), DecodeError::kUndefined);        // lock nop
  EXPECT_EQ(dec({0x0F, 0xFF}).error(), DecodeError::kUndefined);
  EXPECT_EQ(dec({0xC4, 0xE2, 0x78, 0xF2, 0xC1}).error(), DecodeError::kUndefined);  // VEX
  EXPECT_EQ(dec({0x48, 0xB8, 1, 2}).error(), DecodeError::kTruncated);
  std::vector<uint8_t> fifteen(14, 0x66);
  fifteen.push_back(0x90);
  auto ok = decode64(fifteen);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->length, 15);
  std::vector<uint8_t> sixteen(15, 0x66);
  sixteen.push_back(0x90);
  EXPECT_EQ(decode64(sixteen).error(), DecodeError::kTooLong);
  std::vector<uint8_t> long_imm = {0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(decode64(long_imm).error(), DecodeError::kTooLong);  // 17 bytes
}

}  // namespace
}  // namespace snpemu::cpu
