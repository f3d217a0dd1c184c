// Tests of `snpemu vcek --pem`: the output is a PEM P-384 public key OpenSSL reads, it is the
// key of the firmware a machine with the same seed builds, and it depends on the seed only.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "emu/cli/cli.h"
#include "emu/machine_config.h"
#include "firmware/firmware.h"

namespace snpemu::cli {
namespace {

struct Outcome {
  int status;
  std::string out;
  std::string err;
};

Outcome run(std::vector<std::string_view> args) {
  std::ostringstream out, err;
  const int status = run_cli(args, out, err);
  return {status, out.str(), err.str()};
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

PkeyPtr read_pem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return PkeyPtr(key);
}

TEST(VcekCli, PemIsAP384PublicKeyOpenSslReads) {
  const Outcome o = run({"vcek", "--pem"});
  ASSERT_EQ(o.status, kExitOk) << o.err;
  EXPECT_EQ(o.err, "");
  EXPECT_TRUE(o.out.starts_with("-----BEGIN PUBLIC KEY-----\n")) << o.out;
  EXPECT_TRUE(o.out.ends_with("-----END PUBLIC KEY-----\n")) << o.out;
  PkeyPtr key = read_pem(o.out);
  ASSERT_NE(key, nullptr) << "PEM_read_bio_PUBKEY failed on:\n" << o.out;
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  char group[64] = {};
  size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, &len),
            1);
  EXPECT_EQ(std::string(group, len), "secp384r1");
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 384);
}

TEST(VcekCli, KeyIsTheFirmwareVcekOfTheMachineSeed) {
  const Outcome o = run({"vcek", "--pem"});
  ASSERT_EQ(o.status, kExitOk) << o.err;
  auto vcek = fw::ModelVcek::derive(fw::platform_seed_from_machine_seed(MachineConfig{}.seed));
  ASSERT_TRUE(vcek.has_value()) << vcek.error().message;
  EXPECT_EQ(o.out, vcek->public_key_pem().value_or("none"));

  // A report signed by that firmware key verifies against the printed key.
  fw::AttestationReport report;
  report.report_data[0] = 0x42;
  ASSERT_TRUE(vcek->sign_report(report).has_value());
  auto printed = fw::VerifyingKey::from_pem(o.out);
  ASSERT_TRUE(printed.has_value()) << printed.error().message;
  const auto bytes = fw::serialize_report(report);
  EXPECT_TRUE(fw::verify_report_signature(bytes, *printed).has_value());
}

TEST(VcekCli, DeterministicPerSeed) {
  const Outcome a = run({"vcek", "--pem"});
  const Outcome b = run({"vcek", "--pem"});
  const Outcome c = run({"vcek", "--pem", "--seed", "7"});
  const Outcome d = run({"vcek", "--pem", "--seed", "7"});
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(c.out, d.out);
  EXPECT_NE(a.out, c.out) << "a different machine seed gives a different VCEK";
  EXPECT_EQ(run({"vcek", "--pem", "--seed", std::to_string(MachineConfig{}.seed)}).out, a.out);
}

TEST(VcekCli, FormatIsRequired) {
  const Outcome o = run({"vcek"});
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_EQ(o.err, "snpemu vcek: choose an output format: --pem (see snpemu vcek --help)\n");
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(run({"vcek", "--pem=yes"}).err,
            "snpemu vcek: option '--pem' takes no value (see snpemu vcek --help)\n");
}

}  // namespace
}  // namespace snpemu::cli
