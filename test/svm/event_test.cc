// test/svm/event_test.cc: EVENTINJ / EXITINTINFO codec round trips against hand-computed words
// (APM vol 2 15.20, Linux SVM_EVTINJ_*) and the illegal combinations VMRUN rejects.
#include <gtest/gtest.h>

#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

TEST(EventCodec, HandComputedWords) {
  // #GP(0x18) as an exception: vector 13, type 3 (0x300), EV (0x800), V (0x8000_0000).
  const Event gp = make_event(EventType::kException, 13, 0x18);
  EXPECT_EQ(encode_event_word(gp), 0x8000'0B0Du);
  EXPECT_EQ(encode_event64(gp), 0x0000'0018'8000'0B0Dull);
  // External interrupt 0x20: type 0, no error code.
  EXPECT_EQ(encode_event_word(make_event(EventType::kIntr, 0x20)), 0x8000'0020u);
  // NMI: vector 2, type 2.
  EXPECT_EQ(encode_event_word(make_event(EventType::kNmi, 2)), 0x8000'0202u);
  // INT 0x80 as a software interrupt: type 4.
  EXPECT_EQ(encode_event_word(make_event(EventType::kSoftInt, 0x80)), 0x8000'0480u);
  // #UD as the GHCB exception request Linux accepts (PLATFORM-FACTS 2.2): 0x8000_0306.
  EXPECT_EQ(encode_event64(make_event(EventType::kException, 6)), 0x8000'0306ull);
}

TEST(EventCodec, RoundTrips) {
  for (uint8_t type : {0, 2, 3, 4}) {
    for (int vector : {0, 1, 13, 14, 31, 32, 255}) {
      for (bool ev : {false, true}) {
        const Event e{.vector = static_cast<uint8_t>(vector),
                      .type = type,
                      .error_code_valid = ev,
                      .valid = true,
                      .error_code = ev ? 0xDEAD'BEEFu : 0u};
        EXPECT_EQ(decode_event(encode_event_word(e), e.error_code), e)
            << "type " << int(type) << " vector " << vector << " ev " << ev;
        EXPECT_EQ(decode_event64(encode_event64(e)), e)
            << "64-bit form, type " << int(type) << " vector " << vector;
      }
    }
  }
}

TEST(EventCodec, DecodeKeepsRawTypeAndDropsReservedBits) {
  // Reserved type 5 survives decode so a checker can see it; bits 30:12 are not part of Event.
  const Event e = decode_event(0x8000'0000u | (5u << 8) | 0x7FFF'F000u | 0x42, 7);
  EXPECT_EQ(e.type, 5);
  EXPECT_EQ(e.vector, 0x42);
  EXPECT_TRUE(e.valid);
  EXPECT_FALSE(e.error_code_valid);
  EXPECT_EQ(e.error_code, 7u);
  EXPECT_EQ(encode_event_word(e), 0x8000'0542u);
}

TEST(EventInjCheck, LegalEvents) {
  EXPECT_EQ(check_event_inj(0, true), EventInjCheck::kOk) << "V clear";
  EXPECT_EQ(check_event_inj(0x8000'0B0Du, true), EventInjCheck::kOk) << "#GP with error code";
  EXPECT_EQ(check_event_inj(0x8000'0020u, true), EventInjCheck::kOk) << "INTR 0x20";
  EXPECT_EQ(check_event_inj(0x8000'0202u, true), EventInjCheck::kOk) << "NMI";
  EXPECT_EQ(check_event_inj(0x8000'0480u, true), EventInjCheck::kOk) << "INT 0x80";
  EXPECT_EQ(check_event_inj(0x8000'0305u, false), EventInjCheck::kOk) << "#BR in 32-bit mode";
  EXPECT_EQ(check_event_inj(0x8000'0304u, true), EventInjCheck::kOk) << "#OF in 64-bit mode";
  EXPECT_EQ(check_event_inj(0x8000'031Fu, true), EventInjCheck::kOk) << "exception 31";
}

TEST(EventInjCheck, IllegalCombinations) {
  for (uint32_t type : {1u, 5u, 6u, 7u}) {
    EXPECT_EQ(check_event_inj(0x8000'0000u | (type << 8) | 0x20, false),
              EventInjCheck::kReservedType)
        << "type " << type;
  }
  EXPECT_EQ(check_event_inj(0x8000'0302u, false), EventInjCheck::kNotAnException)
      << "exception type with the NMI vector";
  EXPECT_EQ(check_event_inj(0x8000'0320u, false), EventInjCheck::kNotAnException)
      << "exception type with vector 32";
  EXPECT_EQ(check_event_inj(0x8000'03FFu, false), EventInjCheck::kNotAnException)
      << "exception type with vector 255";
  EXPECT_EQ(check_event_inj(0x8000'0305u, true), EventInjCheck::kImpossibleInMode)
      << "#BR in 64-bit mode";
}

}  // namespace
}  // namespace snpemu::svm
