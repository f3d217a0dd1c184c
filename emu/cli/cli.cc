// emu/cli/cli.cc: subcommand dispatch for `snpemu`.
#include "emu/cli/cli.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "emu/cli/args.h"
#include "emu/cli/manifest.h"
#include "emu/exec/bare_metal.h"
#include "emu/machine_config.h"
#include "emu/mem/memory.h"
#include "emu/vmm/launch_plan.h"
#include "emu/vmm/runner.h"
#include "firmware/firmware.h"

namespace snpemu::embedded {
extern const unsigned char kDefaultGuest[];
extern const unsigned long kDefaultGuest_size;
}  // namespace snpemu::embedded

namespace snpemu::cli {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*main)(std::string_view name, std::span<const std::string_view> args, std::ostream& out,
              std::ostream& err);
};

// Prints "snpemu CMD: MESSAGE (see snpemu CMD --help)" and returns the usage status.
int usage_error(std::string_view command, const std::string& message, std::ostream& err) {
  err << "snpemu " << command << ": " << message << " (see snpemu " << command << " --help)\n";
  return kExitUsage;
}

// Handles the common outcome of parse_options.
int finish_parse(std::string_view command, std::string_view summary,
                 const std::expected<void, std::string>& parsed,
                 std::span<const OptionSpec> options, std::span<const PositionalSpec> positionals,
                 std::ostream& out, std::ostream& err, bool* done) {
  *done = true;
  if (!parsed) {
    if (parsed.error() == "help") {
      out << format_usage(command, summary, options, positionals);
      return kExitOk;
    }
    return usage_error(command, parsed.error(), err);
  }
  *done = false;
  return kExitOk;
}

OptionSpec mem_option(MachineConfig& config) {
  return {"mem", "SIZE", "host RAM size, e.g. 4G, 512M (default 4G)",
          [&config](std::string_view v) -> std::expected<void, std::string> {
            auto size = parse_size(v);
            if (!size) return std::unexpected(size.error());
            config.mem_bytes = *size;
            if (auto ok = validate(config); !ok) return std::unexpected(ok.error());
            return {};
          }};
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

constexpr std::string_view kRunSummary =
    "Runs GUEST.elf as a VM under the hypervisor model (default: the built-in demo guest).";

// The kinds of guest `--sev` selects (KVM VM types).
std::expected<hv::VmType, std::string> parse_sev(std::string_view v) {
  if (v == "none") return hv::VmType::kDefault;
  if (v == "sev-es") return hv::VmType::kSevEs;
  if (v == "snp") return hv::VmType::kSnp;
  if (v == "sev") {
    return std::unexpected("--sev sev: legacy SEV guests are not launched by `snpemu run` yet (the "
                           "VMM does not drive the AMD-SP's legacy SEV launch); use none, sev-es or snp");
  }
  return std::unexpected("expected none, sev, sev-es or snp, got '" + printable(v) + "'");
}

int run_main(std::string_view name, std::span<const std::string_view> args, std::ostream& out,
             std::ostream& err) {
  vmm::GuestRunOptions opts;
  std::string image;
  uint64_t vcpus = 1;
  uint64_t max_cycles = 0;
  const OptionSpec options[] = {
      {"mem", "SIZE", "guest RAM, e.g. 256M, 1G (default 256M)",
       [&opts](std::string_view v) -> std::expected<void, std::string> {
         auto size = parse_size(v);
         if (!size) return std::unexpected(size.error());
         if (*size < (uint64_t{2} << 20) || (*size & 0xFFF) || *size > (uint64_t{64} << 30)) {
           return std::unexpected("expected a multiple of 4 KiB from 2M to 64G");
         }
         opts.mem_bytes = *size;
         return {};
       }},
      {"vcpus", "N", "virtual CPUs, 1..30 (default 1)",
       [&vcpus](std::string_view v) -> std::expected<void, std::string> {
         auto n = parse_uint(v);
         if (!n) return std::unexpected(n.error());
         if (*n == 0 || *n > 30) return std::unexpected("expected 1..30");
         vcpus = *n;
         return {};
       }},
      {"sev", "MODE",
       "none, sev-es or snp (sev-es: legacy SEV launch, encrypted memory and VMSA, #VC, GHCB "
       "protocol; snp: SNP launch, measured and encrypted by the AMD-SP, RMP-checked) (default none)",
       [&opts](std::string_view v) -> std::expected<void, std::string> {
         auto t = parse_sev(v);
         if (!t) return std::unexpected(t.error());
         opts.type = *t;
         return {};
       }},
      {"ap-start", "MODE",
       "run or wait: vCPUs 1..N-1 start running at the entry (run), or wait in MP state "
       "UNINITIALIZED until the guest starts them with SNP AP creation (wait) (default run)",
       [&opts](std::string_view v) -> std::expected<void, std::string> {
         if (v == "run") {
           opts.ap_start = vmm::GuestRunOptions::ApStart::kRunning;
         } else if (v == "wait") {
           opts.ap_start = vmm::GuestRunOptions::ApStart::kWaiting;
         } else {
           return std::unexpected("expected run or wait, got '" + printable(v) + "'");
         }
         return {};
       }},
      {"psc", "MODE",
       "SNP page state changes: vmm (KVM: each range exits to the VMM as KVM_HC_MAP_GPA_RANGE) "
       "or in-kernel (the hypervisor converts itself) (default vmm)",
       [&opts](std::string_view v) -> std::expected<void, std::string> {
         auto m = hv::parse_psc_handling(v);
         if (!m) return std::unexpected("expected vmm or in-kernel, got '" + printable(v) + "'");
         opts.psc_handling = *m;
         return {};
       }},
      {"rmp-update", "MODE",
       "when a page converted to private becomes guest-owned in the RMP: lazy (KVM: at its first "
       "fault) or eager (at the conversion) (default lazy)",
       [&opts](std::string_view v) -> std::expected<void, std::string> {
         auto m = hv::parse_rmp_update_timing(v);
         if (!m) return std::unexpected("expected lazy or eager, got '" + printable(v) + "'");
         opts.rmp_update_timing = *m;
         return {};
       }},
      {"max-cycles", "N", "stop after N modelled cycles on a vCPU (default: no limit)",
       store_uint(max_cycles)},
      {"seed", "N", "seed for model-internal choices (decimal)", store_uint(opts.seed)},
  };
  const PositionalSpec positionals[] = {
      {"GUEST.elf", "freestanding ELF64 guest image (default: the built-in demo guest)",
       store_string(image), true},
  };
  bool done = false;
  const int status = finish_parse(name, kRunSummary, parse_options(args, options, positionals),
                                  options, positionals, out, err, &done);
  if (done) return status;
  opts.vcpus = static_cast<uint32_t>(vcpus);
  opts.max_cycles = max_cycles;

  std::vector<uint8_t> file;
  std::string label = image;
  if (image.empty()) {
    file.assign(embedded::kDefaultGuest, embedded::kDefaultGuest + embedded::kDefaultGuest_size);
    label = "built-in demo guest";
  } else {
    auto f = read_whole_file(image);
    if (!f) {
      err << "snpemu run: " << f.error() << "\n";
      return kExitFailure;
    }
    file = std::move(*f);
  }
  // Host time is reported, never used by the model.
  const auto start = std::chrono::steady_clock::now();
  out.flush();
  auto result = vmm::run_guest(file, opts, out);
  const double host_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.flush();
  if (!result) {
    err << "snpemu run: " << printable(label) << ": " << result.error() << "\n";
    return kExitFailure;
  }
  static constexpr const char* kEnd[] = {"exit port 0xf4", "every vCPU halted", "cycle limit",
                                         "termination request"};
  char figures[200];
  std::snprintf(figures, sizeof figures,
                "%u vCPU(s), %" PRIu64 " instructions, %" PRIu64 " modelled cycles, %" PRIu64
                " exits (%" PRIu64 " to the VMM), %.3f s host time",
                opts.vcpus, result->instructions, result->cycles, result->exits, result->vmm_exits,
                host_seconds);
  std::string reason;
  if (result->end == vmm::GuestRunResult::End::kTerminated) {
    reason = " (reason set " + std::to_string(result->reason_set) + " code " +
             std::to_string(result->reason_code) + ")";
  }
  if (result->sev_measurement) {
    const std::span<const uint8_t> blob(*result->sev_measurement);
    err << "snpemu run: " << printable(label) << ": SEV launch measurement " << to_hex(blob.first(32))
        << " mnonce " << to_hex(blob.subspan(32)) << "\n";
  }
  if (result->measurement) {
    err << "snpemu run: " << printable(label) << ": SNP launch measurement " << to_hex(*result->measurement) << "\n";
  }
  err << "snpemu run: " << printable(label) << ": " << figures << ", ended by "
      << kEnd[static_cast<int>(result->end)] << reason << ", status " << result->exit_status << "\n";
  if (result->end == vmm::GuestRunResult::End::kCycleLimit) return kExitFailure;
  // The built-in guest reports success as exit value 0 on port 0xF4, which the QEMU convention
  // turns into status 1; the default scenario reports the guest's value itself (0 = success).
  if (image.empty() && result->end == vmm::GuestRunResult::End::kExitPort) return result->exit_status >> 1;
  return result->exit_status;
}

// Subcommands whose job is not built yet: their command lines are parsed in full, so scripts
// written against them fail only where the job itself is missing.
int not_yet(std::string_view name, std::ostream& err) {
  err << "snpemu " << name << ": this job is not available in this build yet\n";
  return kExitFailure;
}

int exec_main(std::string_view name, std::span<const std::string_view> args, std::ostream& out,
              std::ostream& err) {
  MachineConfig config;
  std::string image;
  uint64_t max_insns = 0;
  const OptionSpec options[] = {
      mem_option(config),
      {"max-insns", "N", "stop after N instructions (default: no limit)", store_uint(max_insns)},
  };
  const PositionalSpec positionals[] = {
      {"IMAGE.elf", "freestanding ELF64 executable to run", store_string(image)},
  };
  bool done = false;
  const int status = finish_parse(name, "Runs a bare-metal ELF64 image on one core in 64-bit mode.",
                                  parse_options(args, options, positionals), options, positionals,
                                  out, err, &done);
  if (done) return status;

  auto file = read_whole_file(image);
  if (!file) {
    err << "snpemu exec: " << file.error() << "\n";
    return kExitFailure;
  }
  // Host time is reported, never used by the model.
  const auto start = std::chrono::steady_clock::now();
  out.flush();
  auto result = run_bare_metal(*file, BareMetalOptions{config.mem_bytes, max_insns}, out);
  const double host_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.flush();
  if (!result) {
    err << "snpemu exec: " << printable(image) << ": " << result.error() << "\n";
    return kExitFailure;
  }
  static constexpr const char* kEnd[] = {"exit port 0xf4", "hlt with interrupts disabled",
                                         "instruction limit"};
  char figures[160];
  std::snprintf(figures, sizeof figures,
                "%" PRIu64 " instructions, %" PRIu64 " modelled cycles, %.3f s host time",
                result->instructions, result->cycles, host_seconds);
  err << "snpemu exec: " << printable(image) << ": " << figures << ", ended by "
      << kEnd[static_cast<int>(result->end)] << ", status " << result->exit_status << "\n";
  if (result->end == BareMetalResult::End::kInsnLimit) return kExitFailure;
  return result->exit_status;
}

int replay_main(std::string_view name, std::span<const std::string_view> args, std::ostream& out,
                std::ostream& err) {
  std::string trace;
  const PositionalSpec positionals[] = {
      {"TRACE", "trace file recorded by snpemu or imported from trace-cmd", store_string(trace)},
  };
  bool done = false;
  const int status =
      finish_parse(name, "Replays a trace against the platform models.",
                   parse_options(args, {}, positionals), {}, positionals, out, err, &done);
  if (done) return status;
  return not_yet(name, err);
}


constexpr std::string_view kMeasureSummary =
    "Prints the expected SNP launch digest (96 lower-case hex digits) without running the guest:\n"
    "of GUEST.elf as the VMM launches it (see emu/vmm/launch_plan.h), or of the explicit page\n"
    "list in a --manifest LAUNCH.json (see README, `snpemu measure`).";

int measure_main(std::string_view name, std::span<const std::string_view> args, std::ostream& out,
                 std::ostream& err) {
  vmm::LaunchOptions launch;
  std::string image, manifest;
  bool plan_option = false;  // an option that only applies to GUEST.elf was given
  uint64_t vcpus = launch.vcpus;
  const OptionSpec options[] = {
      {"manifest", "LAUNCH.json", "measure this explicit page list instead of an ELF",
       store_string(manifest)},
      {"vcpus", "N", "number of vCPUs, one VMSA each (default 1)",
       [&](std::string_view v) -> std::expected<void, std::string> {
         auto n = parse_uint(v);
         if (!n) return std::unexpected(n.error());
         if (*n == 0 || *n > vmm::kMaxVcpus) {
           return std::unexpected("expected 1.." + std::to_string(vmm::kMaxVcpus));
         }
         vcpus = *n;
         plan_option = true;
         return {};
       }},
      {"policy", "P", "guest policy for LAUNCH_START (default 0x30000; not in the digest)",
       [&](std::string_view v) -> std::expected<void, std::string> {
         auto n = parse_number(v);
         if (!n) return std::unexpected(n.error());
         launch.policy = *n;
         plan_option = true;
         return {};
       }},
      {"guest-features", "F", "VMSA SEV_FEATURES (default 0x1, SNP active)",
       [&](std::string_view v) -> std::expected<void, std::string> {
         auto n = parse_number(v);
         if (!n) return std::unexpected(n.error());
         launch.sev_features = *n;
         plan_option = true;
         return {};
       }},
  };
  const PositionalSpec positionals[] = {
      {"GUEST.elf", "ELF64 guest image to launch", store_string(image), /*optional=*/true},
  };
  bool done = false;
  const int status = finish_parse(name, kMeasureSummary, parse_options(args, options, positionals),
                                  options, positionals, out, err, &done);
  if (done) return status;
  launch.vcpus = static_cast<uint32_t>(vcpus);
  if (!manifest.empty() && !image.empty()) {
    return usage_error(name, "give either GUEST.elf or --manifest, not both", err);
  }
  if (manifest.empty() && image.empty()) {
    return usage_error(name, "missing argument GUEST.elf (or --manifest LAUNCH.json)", err);
  }
  if (!manifest.empty() && plan_option) {
    return usage_error(name,
                       "--vcpus, --policy and --guest-features apply to GUEST.elf, not to "
                       "--manifest",
                       err);
  }
  std::vector<vmm::LaunchRange> ranges;
  if (!manifest.empty()) {
    auto parsed = read_manifest(manifest);
    if (!parsed) {
      err << "snpemu measure: " << parsed.error() << "\n";
      return kExitUsage;  // a malformed manifest, like a malformed command line
    }
    ranges = std::move(*parsed);
  } else {
    if (auto ok = vmm::check_options(launch); !ok)
      return usage_error(name, ok.error().message, err);
    auto file = read_whole_file(image);
    if (!file) {
      err << "snpemu measure: " << file.error() << "\n";
      return kExitFailure;
    }
    auto plan = vmm::make_launch_plan(*file, launch);
    if (!plan) {
      err << "snpemu measure: " << printable(image) << ": " << plan.error().message << "\n";
      return kExitFailure;
    }
    ranges = std::move(plan->ranges);
  }
  auto digest = vmm::measure(ranges);
  if (!digest) {
    err << "snpemu measure: " << digest.error().message << "\n";
    return manifest.empty() ? kExitFailure : kExitUsage;
  }
  out << to_hex(*digest) << "\n";
  return kExitOk;
}

int vcek_main(std::string_view name, std::span<const std::string_view> args, std::ostream& out,
              std::ostream& err) {
  MachineConfig config;
  bool pem = false;
  const OptionSpec options[] = {
      {"pem", "", "print the public key as SubjectPublicKeyInfo PEM",
       [&pem](std::string_view) -> std::expected<void, std::string> {
         pem = true;
         return {};
       }},
      {"seed", "N", "machine seed, as for `snpemu run --seed` (decimal)", store_uint(config.seed)},
  };
  bool done = false;
  const int status = finish_parse(
      name,
      "Prints the model VCEK's public key (P-384), which verifies every attestation report the\n"
      "model firmware of a machine with this seed signs.",
      parse_options(args, options, {}), options, {}, out, err, &done);
  if (done) return status;
  if (!pem) return usage_error(name, "choose an output format: --pem", err);
  auto vcek = fw::ModelVcek::derive(fw::platform_seed_from_machine_seed(config.seed));
  if (!vcek) {
    err << "snpemu vcek: " << vcek.error().message << "\n";
    return kExitFailure;
  }
  auto text = vcek->public_key_pem();
  if (!text) {
    err << "snpemu vcek: " << text.error().message << "\n";
    return kExitFailure;
  }
  out << *text;
  return kExitOk;
}

constexpr Command kCommands[] = {
    {"run", kRunSummary, run_main},
    {"exec", "run a bare-metal ELF64 image on one core", exec_main},
    {"replay", "replay a recorded trace against the models", replay_main},
    {"measure", "print the expected SNP launch digest of a guest or manifest", measure_main},
    {"vcek", "print the model VCEK public key", vcek_main},
};

std::string top_usage() {
  std::string out =
      "usage: snpemu [COMMAND] [options]\n\n"
      "A deterministic, cycle-counted emulator of an AMD EPYC host running SEV-SNP guests.\n\n"
      "commands:\n";
  for (const Command& c : kCommands) {
    out += "  " + std::string(c.name);
    out.append(10 - c.name.size(), ' ');
    out += std::string(c.summary) + "\n";
  }
  out +=
      "\nWith no command, runs `run` with its defaults. `snpemu COMMAND --help` shows a "
      "command's options.\n"
      "  --help    show this help\n  --version show the version\n";
  return out;
}

}  // namespace

int run_cli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (!args.empty()) {
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      out << top_usage();
      return kExitOk;
    }
    if (args[0] == "--version") {
      out << kVersion << "\n";
      return kExitOk;
    }
  }
  if (args.empty() || args[0].starts_with("-")) {
    return run_main("run", args, out, err);  // default command
  }
  for (const Command& c : kCommands) {
    if (c.name == args[0]) return c.main(c.name, args.subspan(1), out, err);
  }
  std::string names;
  for (const Command& c : kCommands) names += (names.empty() ? "" : ", ") + std::string(c.name);
  err << "snpemu: unknown command '" << printable(args[0]) << "' (commands: " << names << ")\n";
  return kExitUsage;
}

}  // namespace snpemu::cli
