// bench/ratio_main.cc: Google Benchmark main that also prints registered ratios.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/ratio.h"

namespace snpemu::bench {
namespace {

// Registration happens during static initialisation of this binary only; the list is read once
// in main. It is the one piece of process-wide state in a benchmark binary, and holds no model
// state.
std::vector<std::pair<std::string, std::string>>& ratio_pairs() {
  static std::vector<std::pair<std::string, std::string>> pairs;
  return pairs;
}

// Keeps the console output and remembers time per iteration of every run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      const double ns = run.GetAdjustedCPUTime() *
                        benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
                        benchmark::GetTimeUnitMultiplier(run.time_unit);
      times_[run.benchmark_name()] = ns;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_ratios() const {
    std::vector<std::pair<std::string, std::string>> lines;
    for (const auto& [measured, baseline] : ratio_pairs()) {
      for (const auto& [name, ns] : times_) {
        // Match "measured" exactly or "measured/<args>" with the same args on the baseline.
        std::string args;
        if (name == measured) {
          args.clear();
        } else if (name.rfind(measured + "/", 0) == 0) {
          args = name.substr(measured.size());
        } else {
          continue;
        }
        auto base = times_.find(baseline + args);
        if (base == times_.end()) base = times_.find(baseline);
        if (base == times_.end() || base->second <= 0) continue;
        char buf[256];
        std::snprintf(buf, sizeof buf, "%-56s %8.2fx  (baseline %s)", name.c_str(),
                      ns / base->second, base->first.c_str());
        lines.emplace_back(name, buf);
      }
    }
    if (lines.empty()) return;
    std::printf("\nRatios to baseline (CPU time per iteration, lower is better):\n");
    for (const auto& [name, line] : lines) std::printf("%s\n", line.c_str());
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

bool register_ratio(const char* measured, const char* baseline) {
  ratio_pairs().emplace_back(measured, baseline);
  return true;
}

}  // namespace snpemu::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  snpemu::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
