// Tests of the ID block / ID auth structures, the firmware public-key format (known answer from
// RFC 6979's P-384 key) and the SNP_LAUNCH_FINISH ID-block checks.
#include <gtest/gtest.h>

#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

std::array<uint8_t, 48> rfc_d() {
  auto v = test::from_hex(
      "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D8"
      "96D5724E4C70A825F872C9EA60D2EDF5");
  std::array<uint8_t, 48> d{};
  std::copy_n(v.begin(), 48, d.begin());
  return d;
}

std::string be_hex_of_le(const std::array<uint8_t, 72>& le) {
  std::array<uint8_t, 48> be{};
  for (size_t i = 0; i < 48; ++i) be[i] = le[47 - i];
  return test::to_hex(be);
}

std::vector<uint8_t> bytes_of(const SnpPublicKey& k) {
  std::vector<uint8_t> b(sizeof(k));
  std::memcpy(b.data(), &k, sizeof(k));
  return b;
}

TEST(SnpPublicKey, RfcKeyKnownAnswerAndRoundTrip) {
  auto key = ModelVcek::from_private_scalar(rfc_d());
  ASSERT_TRUE(key.has_value());
  auto snp = to_snp_public_key(key->public_key());
  ASSERT_TRUE(snp.has_value()) << snp.error().message;
  EXPECT_EQ(snp->curve, 2u);
  // RFC 6979 A.2.6 public key Ux, Uy, stored little endian.
  EXPECT_EQ(be_hex_of_le(snp->qx),
            "ec3a4e415b4e19a4568618029f427fa5da9a8bc4ae92e02e06aae5286b300c64"
            "def8f0ea9055866064a254515480bc13");
  EXPECT_EQ(be_hex_of_le(snp->qy),
            "8015d9b72d7d57244ea8ef9ac0c621896708a59367f9dfb9f54ca84b3f1c9db1"
            "288b231c3ae0d4fe7344fd2533264720");
  auto back = from_snp_public_key(*snp);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back->to_pem(), *key->public_key().to_pem());
  auto bytes = bytes_of(*snp);
  EXPECT_EQ(key_digest(*snp), sha384(bytes));
  EXPECT_EQ(bytes[4], snp->qx[0]) << "Qx at offset 4";
}

TEST(SnpPublicKey, RejectsBadCurveAndOffCurvePoints) {
  auto key = ModelVcek::from_private_scalar(rfc_d());
  ASSERT_TRUE(key.has_value());
  auto snp = to_snp_public_key(key->public_key());
  ASSERT_TRUE(snp.has_value());
  SnpPublicKey bad = *snp;
  bad.curve = 3;
  EXPECT_EQ(from_snp_public_key(bad).error().kind, ErrorKind::kBadAlgorithm);
  bad = *snp;
  bad.qy[0] ^= 1;
  auto off = from_snp_public_key(bad);
  ASSERT_FALSE(off.has_value());
  EXPECT_EQ(off.error().message, "public key (Qx, Qy) is not a point on P-384");
  EXPECT_FALSE(from_snp_public_key(SnpPublicKey{}).has_value()) << "all-zero point";
}

struct Signed {
  IdBlock block;
  IdAuth auth;
  Digest384 ld;
};

Signed make_signed() {
  auto id_key = ModelVcek::derive(std::vector<uint8_t>(32, 0x1D));
  auto author = ModelVcek::derive(std::vector<uint8_t>(32, 0xA0));
  EXPECT_TRUE(id_key && author);
  Signed s;
  s.ld.fill(0x3C);
  s.block.ld = s.ld;
  s.block.family_id[0] = 0xF1;
  s.block.image_id[0] = 0x12;
  s.block.guest_svn = 7;
  s.block.policy = 0x30000;
  s.auth.id_block_sig = *id_key->sign(serialize_id_block(s.block));
  s.auth.id_key = *to_snp_public_key(id_key->public_key());
  s.auth.id_key_sig = *author->sign(bytes_of(s.auth.id_key));
  s.auth.author_key = *to_snp_public_key(author->public_key());
  return s;
}

TEST(IdBlock, LayoutAndParsers) {
  Signed s = make_signed();
  auto b = serialize_id_block(s.block);
  EXPECT_EQ(b[0x30], 0xF1) << "FAMILY_ID at 0x30";
  EXPECT_EQ(b[0x40], 0x12) << "IMAGE_ID at 0x40";
  EXPECT_EQ(b[0x50], 1) << "VERSION at 0x50";
  EXPECT_EQ(b[0x54], 7) << "GUEST_SVN at 0x54";
  EXPECT_EQ(b[0x5A], 3) << "POLICY at 0x58";
  auto a = serialize_id_auth(s.auth);
  EXPECT_EQ(a[0x000], 1);
  EXPECT_EQ(a[0x004], 1);
  EXPECT_EQ(a[0x240], 2) << "ID key curve at 0x240";
  EXPECT_EQ(a[0x880], 2) << "author key curve at 0x880";
  EXPECT_TRUE(parse_id_block(b).has_value());
  EXPECT_TRUE(parse_id_auth(a).has_value());
  EXPECT_EQ(parse_id_block(std::span(b).first(95)).error().message,
            "ID block is 95 bytes, expected 96");
  EXPECT_EQ(parse_id_auth(std::span(a).first(4095)).error().kind, ErrorKind::kBadLength);
}

TEST(IdBlock, ValidBlockYieldsKeyDigests) {
  Signed s = make_signed();
  auto r = check_id_block(s.block, s.auth, true, s.ld, 0x30000);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->id_key_digest, sha384(bytes_of(s.auth.id_key)));
  EXPECT_EQ(r->author_key_digest, sha384(bytes_of(s.auth.author_key)));
  EXPECT_EQ(r->block.guest_svn, 7u);
  auto no_author = check_id_block(s.block, s.auth, false, s.ld, 0x30000);
  ASSERT_TRUE(no_author.has_value());
  EXPECT_EQ(no_author->author_key_digest, Digest384{});
}

TEST(IdBlock, FailuresCarryTheSpecStatus) {
  Signed s = make_signed();
  Digest384 other_ld = s.ld;
  other_ld[0] ^= 1;
  // A block whose LD differs is still correctly signed, so the measurement check decides.
  EXPECT_EQ(check_id_block(s.block, s.auth, true, other_ld, 0x30000).error().status,
            Status::kBadMeasurement);
  EXPECT_EQ(check_id_block(s.block, s.auth, true, s.ld, 0x30001).error().status,
            Status::kPolicyFailure);
  IdBlock changed = s.block;
  changed.guest_svn = 8;  // not what the ID key signed
  auto sig = check_id_block(changed, s.auth, true, s.ld, 0x30000);
  ASSERT_FALSE(sig.has_value());
  EXPECT_EQ(sig.error().status, Status::kBadSignature);
  EXPECT_EQ(sig.error().message.rfind("ID block signature: ", 0), 0u) << sig.error().message;
  IdAuth bad_author = s.auth;
  bad_author.id_key_sig.s[3] ^= 0x40;
  EXPECT_EQ(check_id_block(s.block, bad_author, true, s.ld, 0x30000).error().status,
            Status::kBadSignature);
  EXPECT_TRUE(check_id_block(s.block, bad_author, false, s.ld, 0x30000).has_value())
      << "the ID key signature matters only with AUTH_KEY_EN";
  IdAuth algo = s.auth;
  algo.id_key_algo = 2;
  EXPECT_EQ(check_id_block(s.block, algo, true, s.ld, 0x30000).error().kind,
            ErrorKind::kBadAlgorithm);
  IdBlock v2 = s.block;
  v2.version = 2;
  EXPECT_EQ(check_id_block(v2, s.auth, true, s.ld, 0x30000).error().kind, ErrorKind::kBadVersion);
}

}  // namespace
}  // namespace snpemu::fw
