// Tests of `snpemu measure`: known-answer digests of small manifests computed here with OpenSSL
// (and once with Python's hashlib, pasted), every manifest error with its exact line and status
// 2, and `measure GUEST.elf` equal to measuring the same plan written out as a manifest.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/hex.h"
#include "emu/cli/cli.h"
#include "emu/vmm/launch_plan.h"
#include "test/emu/elf_builder.h"
#include "test/util/runfiles.h"

namespace snpemu::cli {
namespace {

struct Outcome {
  int status;
  std::string out;
  std::string err;
};

Outcome run(std::vector<std::string> args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::ostringstream out, err;
  const int status = run_cli(views, out, err);
  return {status, out.str(), err.str()};
}

// A fresh directory under TEST_TMPDIR per test.
std::string temp_dir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
                              (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::create_directories(dir);
  return dir.string();
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}
void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::string to_hex(const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < size; ++i) {
    s += kDigits[data[i] >> 4];
    s += kDigits[data[i] & 15];
  }
  return s;
}

// ---- the independent chain: PAGE_INFO (PLATFORM-FACTS 8.4) byte by byte, OpenSSL SHA-384 ----

using Digest = std::array<uint8_t, 48>;

Digest sha384(const uint8_t* data, size_t size) {
  Digest out{};
  unsigned len = 0;
  EXPECT_EQ(EVP_Digest(data, size, out.data(), &len, EVP_sha384(), nullptr), 1);
  return out;
}

Digest step(const Digest& cur, uint8_t type, uint64_t gpa, const uint8_t* page /* or null */) {
  uint8_t info[0x70] = {};
  std::memcpy(info, cur.data(), 48);
  if (page != nullptr) std::memcpy(info + 0x30, sha384(page, 4096).data(), 48);
  info[0x60] = 0x70;  // LENGTH
  info[0x62] = type;  // PAGE_TYPE; IMI and VMPL perms 0
  for (int i = 0; i < 8; ++i) info[0x68 + i] = static_cast<uint8_t>(gpa >> (8 * i));
  return sha384(info, sizeof info);
}

std::string hex_of(const Digest& d) { return to_hex(d.data(), d.size()); }

// ---- known answers ----

TEST(MeasureManifest, OneZeroPage) {
  const std::string dir = temp_dir();
  write(dir + "/m.json", R"({"pages": [{"type": "zero", "gpa": "0x800000"}]})");
  const Outcome o = run({"measure", "--manifest", dir + "/m.json"});
  ASSERT_EQ(o.status, 0) << o.err;
  const std::string want = hex_of(step(Digest{}, 3, 0x800000, nullptr));
  EXPECT_EQ(o.out, want + "\n");
  // Computed once with Python hashlib over the same PAGE_INFO bytes.
  EXPECT_EQ(want,
            "4472405c6dbc65e5629805f2be1b3df74eb119841eff12466c24f43e67083c23df5e645b2742b6d9aa0f94"
            "3e095cebaa");
  EXPECT_EQ(o.err, "");
}

TEST(MeasureManifest, ZeroThenNormalThenVmsa) {
  const std::string dir = temp_dir();
  write(dir + "/code.bin", std::string("snpemu"));  // short: zero-padded to the page
  std::vector<uint8_t> vmsa(1648, 0x5A);            // a save area, padded to the page
  write(dir + "/vmsa.bin", vmsa);
  write(dir + "/m.json", R"({"pages": [
      {"type": "zero", "gpa": "0x800000"},
      {"type": "normal", "gpa": "0x100000", "file": "code.bin"},
      {"type": "vmsa", "gpa": "0xfffffffff000", "file": "vmsa.bin"}]})");
  const Outcome o = run({"measure", "--manifest", dir + "/m.json"});
  ASSERT_EQ(o.status, 0) << o.err;
  std::vector<uint8_t> page(4096, 0);
  std::memcpy(page.data(), "snpemu", 6);
  std::vector<uint8_t> vpage(4096, 0);
  std::memset(vpage.data(), 0x5A, 1648);
  Digest d = step(Digest{}, 3, 0x800000, nullptr);
  d = step(d, 1, 0x100000, page.data());
  d = step(d, 2, 0xFFFFFFFFF000, vpage.data());
  EXPECT_EQ(o.out, hex_of(d) + "\n");
  EXPECT_EQ(hex_of(d),
            "62200da17a74a19b4688572475c962238b1cfc5fe1c65521a2bbb9160a13f22d397d450f3f6bd54968246"
            "7d63fe4b005")
      << "Python hashlib answer";
}

TEST(MeasureManifest, EveryTypeLengthsAndUnmeasuredContents) {
  const std::string dir = temp_dir();
  std::vector<uint8_t> two(8192);
  for (size_t i = 0; i < two.size(); ++i) two[i] = static_cast<uint8_t>(i * 7);
  write(dir + "/two.bin", two);
  write(dir + "/junk.bin", std::string("not measured"));
  write(dir + "/m.json", R"({"pages": [
      {"type": "normal", "gpa": "0x200000", "length": "0x2000", "file": "two.bin"},
      {"type": "zero", "gpa": "0x300000", "length": "0x3000"},
      {"type": "unmeasured", "gpa": "0x4000", "file": "junk.bin"},
      {"type": "secrets", "gpa": 8441856},
      {"type": "cpuid", "gpa": "0x80E000", "file": "junk.bin"}]})");
  const Outcome o = run({"measure", "--manifest", dir + "/m.json"});
  ASSERT_EQ(o.status, 0) << o.err;
  Digest d{};
  d = step(d, 1, 0x200000, two.data());
  d = step(d, 1, 0x201000, two.data() + 4096);
  for (uint64_t i = 0; i < 3; ++i) d = step(d, 3, 0x300000 + i * 4096, nullptr);
  d = step(d, 4, 0x4000, nullptr);
  d = step(d, 5, 0x80D000, nullptr);
  d = step(d, 6, 0x80E000, nullptr);
  EXPECT_EQ(o.out, hex_of(d) + "\n");
}

TEST(MeasureManifest, EmptyPageListIsTheZeroDigest) {
  const std::string dir = temp_dir();
  write(dir + "/m.json", R"({"pages": []})");
  EXPECT_EQ(run({"measure", "--manifest", dir + "/m.json"}).out, std::string(96, '0') + "\n");
}

// ---- errors: one exact line, status 2, nothing on stdout ----

struct BadManifest {
  std::string name;
  std::string json;
  std::string error;  // after "snpemu measure: manifest 'PATH': "
};

class MeasureManifestError : public ::testing::TestWithParam<BadManifest> {};

TEST_P(MeasureManifestError, IsOnePreciseLineAndStatus2) {
  const std::string dir = temp_dir();
  write(dir + "/code.bin", std::string(5000, 'x'));
  const std::string path = dir + "/m.json";
  write(path, GetParam().json);
  const Outcome o = run({"measure", "--manifest", path});
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_EQ(o.err, "snpemu measure: manifest '" + path + "': " + GetParam().error + "\n");
  EXPECT_EQ(o.out, "");
}

std::string page(const std::string& fields) {
  return R"({"pages": [{"type": "zero", "gpa": "0x0"}, )" + fields + "]}";
}

INSTANTIATE_TEST_SUITE_P(
    Manifest, MeasureManifestError,
    ::testing::Values(
        BadManifest{"bad_json", R"({"pages": [)",
                    "bad JSON: parse error at line 1, column 12: syntax error while parsing value "
                    "- unexpected end of input; expected '[', '{', or a literal"},
        BadManifest{"not_object", "[1]", "expected an object {\"pages\": [...]}, got an array"},
        BadManifest{"top_key", R"({"pages": [], "version": 1})",
                    "unknown top-level key 'version' (expected pages)"},
        BadManifest{"no_pages", "{}", "pages: missing"},
        BadManifest{"pages_not_array", R"({"pages": "all"})",
                    "pages: expected an array, got \"all\""},
        BadManifest{"page_not_object", page("7"), "pages[1]: expected an object, got 7"},
        BadManifest{"typo_key", page(R"({"type": "zero", "gpa": "0x1000", "lenght": "0x2000"})"),
                    "pages[1]: unknown key 'lenght' (expected type, gpa, length, file)"},
        BadManifest{"no_type", page(R"({"gpa": "0x1000"})"), "pages[1].type: missing"},
        BadManifest{"bad_type", page(R"({"type": "data", "gpa": "0x1000"})"),
                    "pages[1].type: \"data\" is not one of normal, vmsa, zero, unmeasured, "
                    "secrets, cpuid"},
        BadManifest{"numeric_type", page(R"({"type": 1, "gpa": "0x1000"})"),
                    "pages[1].type: 1 is not one of normal, vmsa, zero, unmeasured, secrets, "
                    "cpuid"},
        BadManifest{"no_gpa", page(R"({"type": "zero"})"), "pages[1].gpa: missing"},
        BadManifest{"bad_hex", page(R"({"type": "zero", "gpa": "0x10g0"})"),
                    "pages[1].gpa: expected a hex string such as \"0x100000\", got \"0x10g0\""},
        BadManifest{"no_prefix", page(R"({"type": "zero", "gpa": "1000"})"),
                    "pages[1].gpa: expected a hex string such as \"0x100000\", got \"1000\""},
        BadManifest{"negative", page(R"({"type": "zero", "gpa": -4096})"),
                    "pages[1].gpa: expected a hex string such as \"0x100000\", got -4096"},
        BadManifest{"unaligned", page(R"({"type": "zero", "gpa": "0x1001"})"),
                    "pages[1].gpa: 0x1001 is not 4 KiB aligned"},
        BadManifest{"above_52_bits", page(R"({"type": "zero", "gpa": "0x10000000000000"})"),
                    "pages[1].gpa: 0x10000000000000 is above the 52-bit GPA space"},
        BadManifest{"too_many_digits", page(R"({"type": "zero", "gpa": "0x00000000000000001"})"),
                    "pages[1].gpa: expected a hex string such as \"0x100000\", got "
                    "\"0x00000000000000001\""},
        BadManifest{"zero_length", page(R"({"type": "zero", "gpa": "0x1000", "length": "0x0"})"),
                    "pages[1].length: 0x0 is not a non-zero multiple of 4096 (0x1000)"},
        BadManifest{"partial_length",
                    page(R"({"type": "zero", "gpa": "0x1000", "length": "0x1800"})"),
                    "pages[1].length: 0x1800 is not a non-zero multiple of 4096 (0x1000)"},
        BadManifest{"past_top",
                    page(R"({"type": "zero", "gpa": "0xffffffffff000", "length": "0x2000"})"),
                    "pages[1].length: 0xffffffffff000 + 0x2000 runs past the 52-bit GPA space"},
        BadManifest{"normal_without_file", page(R"({"type": "normal", "gpa": "0x1000"})"),
                    "pages[1].file: missing (required for type normal)"},
        BadManifest{"file_on_zero",
                    page(R"({"type": "zero", "gpa": "0x1000", "file": "code.bin"})"),
                    "pages[1].file: not allowed for type zero (the firmware writes that page)"},
        BadManifest{"file_on_secrets",
                    page(R"({"type": "secrets", "gpa": "0x1000", "file": "code.bin"})"),
                    "pages[1].file: not allowed for type secrets (the firmware writes that page)"},
        BadManifest{"empty_file", page(R"({"type": "vmsa", "gpa": "0x1000", "file": ""})"),
                    "pages[1].file: expected a non-empty path string, got \"\""},
        BadManifest{"too_many_pages",
                    page(R"({"type": "zero", "gpa": "0x0", "length": "0x1000000000"})"),
                    "pages[1].length: the manifest covers more than 2^24 pages (64 GiB), the "
                    "model's limit"}),
    [](const ::testing::TestParamInfo<BadManifest>& p) { return p.param.name; });

// Errors whose text holds the temporary directory.
TEST(MeasureManifest, FileErrorsNameTheResolvedPath) {
  const std::string dir = temp_dir();
  write(dir + "/code.bin", std::string(5000, 'x'));
  const std::string path = dir + "/m.json";
  write(path, R"({"pages": [{"type": "normal", "gpa": "0x1000", "file": "missing.bin"}]})");
  Outcome o = run({"measure", "--manifest", path});
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_EQ(o.err, "snpemu measure: manifest '" + path + "': pages[0].file: cannot open '" + dir +
                       "/missing.bin'\n");
  write(path, R"({"pages": [{"type": "normal", "gpa": "0x1000", "file": "code.bin"}]})");
  o = run({"measure", "--manifest", path});
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_EQ(o.err, "snpemu measure: manifest '" + path + "': pages[0].file: '" + dir +
                       "/code.bin' is 5000 bytes, longer than length 0x1000\n");
  o = run({"measure", "--manifest", dir + "/none.json"});
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_EQ(o.err, "snpemu measure: manifest '" + dir + "/none.json': cannot open '" + dir +
                       "/none.json'\n");
}

// Seeded byte mutations of a valid manifest: every outcome is a digest (status 0) or one error
// line (status 2); nothing crashes, nothing else is printed.
TEST(MeasureManifest, MutatedManifestsGiveADigestOrOneErrorLine) {
  const std::string dir = temp_dir();
  write(dir + "/code.bin", std::string("snpemu"));
  write(dir + "/vmsa.bin", std::vector<uint8_t>(1648, 0x5A));
  const std::string valid = R"({"pages": [{"type": "zero", "gpa": "0x800000", "length": "0x2000"},
      {"type": "normal", "gpa": "0x100000", "file": "code.bin"},
      {"type": "cpuid", "gpa": 8441856}, {"type": "secrets", "gpa": "0x80d000"},
      {"type": "vmsa", "gpa": "0xfffffffff000", "file": "vmsa.bin"}]})";
  constexpr uint64_t kSeed = 0x5EED'0007;
  std::mt19937_64 rng(kSeed);
  const std::string alphabet = "{}[]\":,0x1fF -naeltyp\\\n";
  int digests = 0, errors = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string text = valid;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      const char c = (rng() & 1) ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
      switch (rng() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          text.erase(at, 1);
          break;
      }
    }
    write(dir + "/m.json", text);
    const Outcome o = run({"measure", "--manifest", dir + "/m.json"});
    const std::string where = "seed " + hex(kSeed) + " iteration " + std::to_string(i);
    ASSERT_TRUE(o.status == 0 || o.status == kExitUsage) << where << ": status " << o.status;
    if (o.status == 0) {
      ++digests;
      ASSERT_EQ(o.out.size(), 97u) << where;
      ASSERT_EQ(o.err, "") << where;
    } else {
      ++errors;
      ASSERT_EQ(o.out, "") << where;
      ASSERT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << where << ": " << o.err;
      ASSERT_TRUE(o.err.ends_with("\n")) << where;
    }
  }
  EXPECT_GT(errors, 100) << "the mutations reach the error paths";
  EXPECT_GT(digests, 10) << "some mutations stay valid (e.g. in hex digits)";
}

// ---- the command line ----

TEST(MeasureCli, UsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const Case cases[] = {
      {{"measure"},
       "snpemu measure: missing argument GUEST.elf (or --manifest LAUNCH.json) (see snpemu "
       "measure --help)\n"},
      {{"measure", "a.elf", "--manifest", "m.json"},
       "snpemu measure: give either GUEST.elf or --manifest, not both (see snpemu measure "
       "--help)\n"},
      {{"measure", "--manifest", "m.json", "--vcpus", "2"},
       "snpemu measure: --vcpus, --policy and --guest-features apply to GUEST.elf, not to "
       "--manifest (see snpemu measure --help)\n"},
      {{"measure", "a.elf", "--vcpus", "31"},
       "snpemu measure: bad value '31' for --vcpus: expected 1..30 (see snpemu measure --help)\n"},
      {{"measure", "a.elf", "--policy", "0x1zz"},
       "snpemu measure: bad value '0x1zz' for --policy: expected a number such as 0x30000 or "
       "196608, got '0x1zz' (see snpemu measure --help)\n"},
      {{"measure", "a.elf", "--policy", "0x10000"},
       "snpemu measure: policy 0x10000 must have bit 17 set and bits 63:26 clear "
       "(PLATFORM-FACTS 8.5) (see snpemu measure --help)\n"},
      {{"measure", "a.elf", "--guest-features", "0"},
       "snpemu measure: SEV features 0x0 must have bit 0 (SNP active) set and only known bits "
       "0x1d7ff (see snpemu measure --help)\n"},
  };
  for (const Case& c : cases) {
    const Outcome o = run(c.args);
    EXPECT_EQ(o.status, kExitUsage) << c.err;
    EXPECT_EQ(o.err, c.err);
    EXPECT_EQ(o.out, "");
  }
}

TEST(MeasureCli, ElfProblemsAreJobFailures) {
  const std::string dir = temp_dir();
  Outcome o = run({"measure", dir + "/none.elf"});
  EXPECT_EQ(o.status, kExitFailure);
  EXPECT_EQ(o.err, "snpemu measure: cannot open '" + dir + "/none.elf'\n");
  test::ElfBuilder b;
  b.entry = 0x7000;
  b.add(0x7000, {0xF4}, 1);
  write(dir + "/low.elf", b.bytes());
  o = run({"measure", dir + "/low.elf"});
  EXPECT_EQ(o.status, kExitFailure);
  EXPECT_EQ(o.err, "snpemu measure: " + dir +
                       "/low.elf: ELF segment pages [0x7000, 0x8000) and GDT [0x7000, 0x8000) "
                       "overlap\n");
  EXPECT_EQ(o.out, "");
}

// The plan of `measure GUEST.elf`, written out as a manifest, measures the same.
std::string manifest_of(const vmm::LaunchPlan& plan, const std::string& dir) {
  std::string json = "{\"pages\": [";
  for (size_t i = 0; i < plan.ranges.size(); ++i) {
    const vmm::LaunchRange& r = plan.ranges[i];
    json += i == 0 ? "\n" : ",\n";
    json += "{\"type\": \"" + std::string(fw::page_type_name(r.type)) + "\", \"gpa\": \"" +
            hex(r.gpa.value) + "\", \"length\": \"" + hex(r.pages * 4096) + "\"";
    if (r.type == fw::PageType::kNormal || r.type == fw::PageType::kVmsa) {
      const std::string file = "range" + std::to_string(i) + ".bin";
      write(dir + "/" + file, r.contents);
      json += ", \"file\": \"" + file + "\"";
    }
    json += "}";
  }
  return json + "]}";
}

TEST(MeasureCli, GuestElfEqualsItsExplicitManifest) {
  const std::string dir = temp_dir();
  const std::string guest = std::string(std::getenv("TEST_SRCDIR")) + "/" +
                            std::getenv("TEST_WORKSPACE") + "/test/guests/checksum.elf";
  for (uint32_t vcpus : {1u, 2u}) {
    vmm::LaunchOptions options;
    options.vcpus = vcpus;
    auto plan = vmm::make_launch_plan(test::read_runfile("test/guests/checksum.elf"), options);
    ASSERT_TRUE(plan.has_value()) << plan.error().message;
    const std::string manifest = dir + "/launch" + std::to_string(vcpus) + ".json";
    write(manifest, manifest_of(*plan, dir));
    const Outcome from_elf = run({"measure", guest, "--vcpus", std::to_string(vcpus)});
    const Outcome from_manifest = run({"measure", "--manifest", manifest});
    ASSERT_EQ(from_elf.status, 0) << from_elf.err;
    ASSERT_EQ(from_manifest.status, 0) << from_manifest.err;
    EXPECT_EQ(from_elf.out.size(), 97u) << "96 hex digits and a newline: " << from_elf.out;
    EXPECT_EQ(from_elf.out.find_first_not_of("0123456789abcdef"), 96u) << from_elf.out;
    EXPECT_EQ(from_elf.out, from_manifest.out) << "vcpus " << vcpus;
  }
  EXPECT_NE(run({"measure", guest}).out, run({"measure", guest, "--vcpus", "2"}).out)
      << "each vCPU adds a VMSA page";
  EXPECT_EQ(run({"measure", guest}).out, run({"measure", guest, "--policy", "0x30000"}).out)
      << "the policy is not part of the launch digest";
  EXPECT_NE(run({"measure", guest}).out, run({"measure", guest, "--guest-features", "0x21"}).out)
      << "SEV_FEATURES is in the VMSA";
}

}  // namespace
}  // namespace snpemu::cli
