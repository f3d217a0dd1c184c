// test/fuzz/cli_fuzz.cc: arbitrary command lines never crash snpemu and follow its contract.
//
// Input bytes are split at NUL into arguments. Invariants: status is 0, 1 or 2; a usage error
// (2) writes exactly one line to stderr and nothing to stdout.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "emu/cli/cli.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // Steer towards real option names so the parser's deep paths are reached.
  static constexpr std::string_view kWords[] = {
      "run", "exec", "--mem", "--cores", "--seed", "--max-insns", "--help", "4G", "1T", "0"};
  std::vector<std::string> storage;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\0') {
      std::string arg = text.substr(start, i - start);
      if (arg.size() == 1 && static_cast<uint8_t>(arg[0]) < 0x20) {
        arg = kWords[static_cast<uint8_t>(arg[0]) % std::size(kWords)];
      }
      storage.push_back(arg);
      start = i + 1;
    }
  }
  // Memory above a few GiB of directory would only test the host allocator: keep it bounded.
  for (const std::string& a : storage) {
    if (a.find("--mem") != std::string::npos) return 0;
  }
  std::vector<std::string_view> args(storage.begin(), storage.end());
  std::ostringstream out, err;
  const int status = snpemu::cli::run_cli(args, out, err);
  if (status < 0 || status > 2) {
    std::fprintf(stderr, "cli_fuzz: unexpected status %d\n", status);
    std::abort();
  }
  if (status == snpemu::cli::kExitUsage) {
    const std::string e = err.str();
    if (std::count(e.begin(), e.end(), '\n') != 1 || e.back() != '\n' || !out.str().empty()) {
      std::fprintf(stderr, "cli_fuzz: usage error is not one line on stderr: %s\n", e.c_str());
      std::abort();
    }
  }
  return 0;
}
