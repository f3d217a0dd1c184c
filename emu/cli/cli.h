// emu/cli/cli.h: the `snpemu` command line.
//
//   snpemu [run] [options]           run the built-in default scenario
//   snpemu exec IMAGE.elf [options]  run a bare-metal ELF64 image on one core
//   snpemu replay TRACE [options]    replay a recorded trace against the models
//   snpemu measure GUEST.elf [--vcpus N] [--policy P] [--guest-features F]
//                                    print the expected SNP launch digest of an ELF guest
//   snpemu measure --manifest LAUNCH.json   ... of an explicit page list (emu/cli/manifest.h)
//   snpemu vcek --pem [--seed N]     print the model VCEK public key (PEM)
//   snpemu --help | --version
//
// Exit status: 0 success, 1 the job failed, 2 bad command line or malformed manifest (one precise
// line on stderr).
#pragma once

#include <ostream>
#include <span>
#include <string_view>

namespace snpemu::cli {

/// The version string printed by --version.
inline constexpr std::string_view kVersion = "snpemu 0.1.0";

/// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

/// Runs the command line `args` (without argv[0]); writes the job's output to `out` and
/// diagnostics to `err`; returns the exit status.
int run_cli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace snpemu::cli
