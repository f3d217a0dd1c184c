// Tests of MSG_KEY_REQ / MSG_KEY_RSP and the model's derived guest keys: layout, which inputs
// change the key, and the request checks.
#include <gtest/gtest.h>

#include "firmware/firmware.h"

namespace snpemu::fw {
namespace {

const std::vector<uint8_t> kSeed(32, 0x6B);

KeyInputs inputs() {
  KeyInputs in;
  in.policy = 0x30000;
  in.image_id[0] = 1;
  in.family_id[0] = 2;
  in.measurement.fill(0x33);
  in.guest_svn = 5;
  in.current_tcb =
      encode_tcb({.boot_loader = 3, .tee = 0, .snp = 8, .microcode = 0x73}, TcbLayout::kMilanGenoa);
  return in;
}

std::array<uint8_t, 32> derive(const MsgKeyReq& req, const KeyInputs& in, uint8_t key_vmpl = 0) {
  auto k = derive_guest_key(kSeed, req, in, Vmpl{key_vmpl});
  EXPECT_TRUE(k.has_value()) << k.error().message;
  return k.value_or(std::array<uint8_t, 32>{});
}

TEST(KeyMsg, Layout) {
  MsgKeyReq req;
  req.root_key_select = 1;
  req.guest_field_select = kKeyFieldMeasurement;
  req.vmpl = 2;
  req.guest_svn = 4;
  req.tcb_version = 0x0102030405060708;
  auto b = serialize_key_req(req);
  EXPECT_EQ(b[0x00], 1);
  EXPECT_EQ(b[0x08], 8);
  EXPECT_EQ(b[0x10], 2);
  EXPECT_EQ(b[0x14], 4);
  EXPECT_EQ(b[0x18], 0x08);
  auto back = parse_key_req(b);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->tcb_version, req.tcb_version);
  b[0x04] = 1;
  EXPECT_EQ(parse_key_req(b).error().message, "MSG_KEY_REQ reserved bits set");
  EXPECT_EQ(parse_key_req(std::span(b).first(31)).error().kind, ErrorKind::kBadLength);
  MsgKeyRsp rsp;
  rsp.derived_key[0] = 0xEE;
  auto rb = serialize_key_rsp(rsp);
  EXPECT_EQ(rb[0x20], 0xEE) << "derived key at 0x20";
  EXPECT_EQ(parse_key_rsp(rb)->derived_key, rsp.derived_key);
}

TEST(KeyMsg, KeyDependsOnExactlyTheSelectedInputs) {
  MsgKeyReq req;
  req.guest_field_select = kKeyFieldMeasurement;
  const auto base = derive(req, inputs());
  EXPECT_EQ(derive(req, inputs()), base) << "deterministic";
  KeyInputs other = inputs();
  other.policy = 0x70000;  // not selected: no effect
  EXPECT_EQ(derive(req, other), base);
  other = inputs();
  other.measurement[0] ^= 1;  // selected: changes the key
  EXPECT_NE(derive(req, other), base);
  MsgKeyReq with_policy = req;
  with_policy.guest_field_select |= kKeyFieldPolicy;
  EXPECT_NE(derive(with_policy, inputs()), base);
  MsgKeyReq vmpl1 = req;
  vmpl1.vmpl = 1;
  EXPECT_NE(derive(vmpl1, inputs()), base) << "VMPL is always mixed in";
  auto other_seed = derive_guest_key(std::vector<uint8_t>(32, 0x6C), req, inputs(), Vmpl{0});
  ASSERT_TRUE(other_seed.has_value());
  EXPECT_NE(*other_seed, base);
}

TEST(KeyMsg, RequestChecks) {
  MsgKeyReq req;
  req.vmpl = 0;
  auto low = derive_guest_key(kSeed, req, inputs(), Vmpl{1});
  ASSERT_FALSE(low.has_value());
  EXPECT_EQ(low.error().status, Status::kInvalidParam);
  req.vmpl = 1;
  req.guest_svn = 6;  // guest has 5
  EXPECT_EQ(derive_guest_key(kSeed, req, inputs(), Vmpl{1}).error().status, Status::kInvalidParam);
  req.guest_svn = 5;
  req.tcb_version =
      encode_tcb({.boot_loader = 3, .snp = 9, .microcode = 0x73}, TcbLayout::kMilanGenoa);
  EXPECT_EQ(derive_guest_key(kSeed, req, inputs(), Vmpl{1})
                .error()
                .message.rfind("requested TCB_VERSION", 0),
            0u);
  req.tcb_version = 0;
  req.root_key_select = 1;  // VMRK
  EXPECT_EQ(derive_guest_key(kSeed, req, inputs(), Vmpl{1}).error().status, Status::kInvalidKey);
  KeyInputs with_vmrk = inputs();
  with_vmrk.has_vmrk = true;
  EXPECT_TRUE(derive_guest_key(kSeed, req, with_vmrk, Vmpl{1}).has_value());
  req.root_key_select = 2 << 1;  // KEY_SEL = VLEK
  EXPECT_EQ(derive_guest_key(kSeed, req, inputs(), Vmpl{1}).error().status, Status::kInvalidKey);
}

}  // namespace
}  // namespace snpemu::fw
