// Tests of the snpemu command line: exit statuses and one-line precise errors.
#include "emu/cli/cli.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "emu/cli/args.h"

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

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(ParseSize, SuffixesAreBinary) {
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_EQ(*parse_size("64K"), 64u << 10);
  EXPECT_EQ(*parse_size("512M"), 512u << 20);
  EXPECT_EQ(*parse_size("4G"), uint64_t{4} << 30);
  EXPECT_EQ(*parse_size("1T"), uint64_t{1} << 40);
  EXPECT_EQ(*parse_size("2GiB"), uint64_t{2} << 30);
}

TEST(ParseSize, RejectsJunkAndOverflow) {
  EXPECT_FALSE(parse_size("").has_value());
  EXPECT_FALSE(parse_size("G").has_value());
  EXPECT_FALSE(parse_size("4X").has_value());
  EXPECT_FALSE(parse_size("-4G").has_value());
  EXPECT_FALSE(parse_size("4 G").has_value());
  EXPECT_EQ(parse_size("16777216T").error(), "size '16777216T' does not fit in 64 bits");
  EXPECT_EQ(parse_size("99999999999999999999").error(),
            "number '99999999999999999999' does not fit in 64 bits");
}

TEST(Cli, NoArgumentsRunsTheDefaultScenario) {
  // The built-in guest (the checksum program) under the hypervisor model: its console on
  // stdout, one summary line on stderr, status 0 when the guest reports success.
  const Outcome o = run({});
  EXPECT_EQ(o.status, kExitOk) << o.err;
  EXPECT_NE(o.out.find("crc32(\"123456789\") 0x00000000cbf43926"), std::string::npos) << o.out;
  EXPECT_EQ(o.err.rfind("snpemu run: built-in demo guest: 1 vCPU(s), ", 0), 0u) << o.err;
  EXPECT_NE(o.err.find("ended by exit port 0xf4, status 1"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

TEST(Cli, RunAppliesOptions) {
  const Outcome o = run({"run", "--mem=64M", "--vcpus", "1", "--max-cycles", "1000"});
  EXPECT_EQ(o.status, kExitFailure) << "the cycle limit ends the run before the guest does";
  EXPECT_NE(o.err.find("ended by cycle limit"), std::string::npos) << o.err;
}

TEST(Cli, RunOfALegacySevGuestSaysItIsNotAvailableYet) {
  const Outcome o = run({"run", "--sev", "sev"});
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_NE(o.err.find("--sev sev: legacy SEV guests are not launched"), std::string::npos) << o.err;
}

TEST(Cli, RunOptionsRejectUnknownModes) {
  for (const auto& [flag, value] : {std::pair{"--ap-start", "sometimes"}, std::pair{"--psc", "userspace"},
                                    std::pair{"--rmp-update", "later"}}) {
    const Outcome o = run({"run", flag, value});
    EXPECT_EQ(o.status, kExitUsage) << flag;
    EXPECT_NE(o.err.find(std::string("got '") + value + "'"), std::string::npos) << o.err;
  }
}

TEST(Cli, HelpAndVersionSucceed) {
  EXPECT_EQ(run({"--version"}).out, std::string(kVersion) + "\n");
  const Outcome help = run({"--help"});
  EXPECT_EQ(help.status, kExitOk);
  for (const char* cmd : {"run", "exec", "replay", "measure", "vcek"}) {
    EXPECT_NE(help.out.find(cmd), std::string::npos) << "help lists " << cmd;
  }
  const Outcome exec_help = run({"exec", "--help"});
  EXPECT_EQ(exec_help.status, kExitOk);
  EXPECT_NE(exec_help.out.find("--max-insns N"), std::string::npos) << exec_help.out;
}

struct BadLine {
  std::vector<std::string_view> args;
  std::string expected_err;
};

class CliBadLine : public ::testing::TestWithParam<BadLine> {};

TEST_P(CliBadLine, PrintsOnePreciseLineAndExits2) {
  const Outcome o = run(GetParam().args);
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_EQ(o.err, GetParam().expected_err);
  EXPECT_EQ(count_lines(o.err), 1);
  EXPECT_EQ(o.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Errors, CliBadLine,
    ::testing::Values(
        BadLine{{"frob"},
                "snpemu: unknown command 'frob' (commands: run, exec, replay, measure, vcek)\n"},
        BadLine{{"--frob"}, "snpemu run: unknown option '--frob' (see snpemu run --help)\n"},
        BadLine{{"run", "-x"}, "snpemu run: unknown option '-x' (see snpemu run --help)\n"},
        BadLine{{"run", "--mem"},
                "snpemu run: option '--mem' needs a value (SIZE) (see snpemu run --help)\n"},
        BadLine{{"run", "--mem", "4Q"},
                "snpemu run: bad value '4Q' for --mem: expected a size such as 4G, 512M or "
                "1048576, got '4Q' (see snpemu run --help)\n"},
        BadLine{{"run", "--mem", "4097"},
                "snpemu run: bad value '4097' for --mem: expected a multiple of 4 KiB from 2M to "
                "64G (see snpemu run --help)\n"},
        BadLine{{"run", "--vcpus", "0"},
                "snpemu run: bad value '0' for --vcpus: expected 1..30 (see snpemu run --help)\n"},
        BadLine{{"run", "a.elf", "extra"},
                "snpemu run: unexpected argument 'extra' (see snpemu run --help)\n"},
        BadLine{{"exec"}, "snpemu exec: missing argument IMAGE.elf (see snpemu exec --help)\n"},
        BadLine{{"exec", "a.elf", "--max-insns", "ten"},
                "snpemu exec: bad value 'ten' for --max-insns: expected a decimal number, got "
                "'ten' (see snpemu exec --help)\n"},
        BadLine{{"replay", "t", "u"},
                "snpemu replay: unexpected argument 'u' (see snpemu replay --help)\n"},
        BadLine{{"bad\ncommand"},
                "snpemu: unknown command 'bad\\x0acommand' (commands: run, exec, replay, "
                "measure, vcek)\n"},
        BadLine{{"run", "--mem", "4\n"},
                "snpemu run: bad value '4\\x0a' for --mem: expected a size such as 4G, 512M or "
                "1048576, got '4\\x0a' (see snpemu run --help)\n"},
        BadLine{{"run", "--help=1"},
                "snpemu run: option '--help' takes no value (see snpemu run --help)\n"}));

TEST(Cli, JobsNotBuiltYetFailWithStatus1NotAFakeSuccess) {
  const Outcome o = run({"replay", "trace.bin"});
  EXPECT_EQ(o.status, kExitFailure);
  EXPECT_EQ(o.err, "snpemu replay: this job is not available in this build yet\n");
}

TEST(Cli, ExecOfAMissingFileIsAClearFailure) {
  const Outcome o = run({"exec", "/nonexistent/image.elf"});
  EXPECT_EQ(o.status, kExitFailure);
  EXPECT_EQ(o.err, "snpemu exec: cannot open '/nonexistent/image.elf'\n");
}

}  // namespace
}  // namespace snpemu::cli
