// STYLE rule 8: cycles come from the timing table only. Every `charge(` in cpu/ outside
// cpu/timing/ must name a Cost (no literal cycle counts), and nothing else adds to the clock.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace {

const char* kSources[] = {
    "cpu/core.cc", "cpu/exception.cc", "cpu/msr.cc", "cpu/paging.cc", "cpu/cpuid.cc", "cpu/cpu.h",
    "cpu/insn/alu.cc", "cpu/insn/bit.cc", "cpu/insn/control.cc", "cpu/insn/dispatch.cc",
    "cpu/insn/exec.cc", "cpu/insn/interrupt.cc", "cpu/insn/io.cc", "cpu/insn/mov.cc",
    "cpu/insn/muldiv.cc", "cpu/insn/segment.cc", "cpu/insn/shift.cc", "cpu/insn/stack.cc",
    "cpu/insn/string.cc", "cpu/insn/system.cc", "cpu/decode/decoder.cc", "cpu/predecode.h",
};

TEST(Timing, NoCycleLiteralsOutsideTheTable) {
  const std::regex charge(R"(charge\(\s*([^)]*)\))");
  const std::regex clock(R"(cycles_\s*(\+=|-=|=)\s*([^;]*);)");
  int charges = 0;
  for (const char* path : kSources) {
    std::ifstream in(path);
    ASSERT_TRUE(in.good()) << "cannot read " << path;
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    for (auto it = std::sregex_iterator(text.begin(), text.end(), charge); it != std::sregex_iterator(); ++it) {
      const std::string arg = (*it)[1];
      ++charges;
      const bool ok = arg.starts_with("Cost::") || arg == "row.cost" || arg == "Cost cost";
      EXPECT_TRUE(ok) << path << ": charge(" << arg << ") does not name a timing-table cost";
    }
    for (auto it = std::sregex_iterator(text.begin(), text.end(), clock); it != std::sregex_iterator(); ++it) {
      const std::string rhs = (*it)[2];
      const size_t at = static_cast<size_t>(it->position());
      const bool declaration = at >= 9 && text.compare(at - 9, 9, "uint64_t ") == 0 && rhs == "0";
      // A predecoded instruction carries the sum of its timing-table rows, summed when the
      // entry is filled from the table (and nowhere else).
      const bool predecoded = rhs == "cached->fixed_cycles" &&
                              text.find("const TimingTable& t = *config_.timing;") != std::string::npos &&
                              text.find("fixed_cycles = t[static_cast<size_t>(row.cost)].cycles") != std::string::npos;
      const bool ok = declaration || predecoded || rhs.find("config_.timing") != std::string::npos;
      EXPECT_TRUE(ok) << path << ": the clock changes by '" << rhs << "' outside charge()";
    }
  }
  EXPECT_GT(charges, 5) << "the scan found the charge() calls";
}

}  // namespace
