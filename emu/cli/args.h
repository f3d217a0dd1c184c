// emu/cli/args.h: the tiny command-line option parser behind `snpemu`.
//
// Hand-written on purpose: the project's dependency list has no argument-parsing library, and
// what snpemu needs (subcommands, `--name value` / `--name=value`, typed values with one precise
// error line) fits in a page.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace snpemu::cli {

/// Returns `text` with every byte outside printable ASCII written as \xNN, so that an argument
/// echoed in an error message can never break the message's single line.
std::string printable(std::string_view text);

/// Parses a byte size: a decimal number with an optional binary suffix K, M, G, T (or KiB,
/// MiB, GiB, TiB). "4G" = 4 << 30. Rejects empty input, junk, and values that overflow 64 bits.
std::expected<uint64_t, std::string> parse_size(std::string_view text);

/// Parses a non-negative decimal integer that fits in 64 bits.
std::expected<uint64_t, std::string> parse_uint(std::string_view text);

/// Parses a 64-bit number written in hex with a 0x prefix ("0x30000") or in decimal.
std::expected<uint64_t, std::string> parse_number(std::string_view text);

/// One option of a subcommand.
struct OptionSpec {
  std::string_view name;        // without the leading "--"
  std::string_view value_name;  // e.g. "SIZE"; empty for a flag that takes no value
  std::string_view help;
  // Receives the value text (empty for a flag); returns an error message on a bad value.
  std::function<std::expected<void, std::string>(std::string_view)> apply;
};

/// One positional argument of a subcommand.
struct PositionalSpec {
  std::string_view name;  // e.g. "IMAGE.elf"
  std::string_view help;
  std::function<std::expected<void, std::string>(std::string_view)> apply;
  bool optional = false;  // may be left out (usage shows it in brackets)
};

/// The value handler of an option or positional.
using ApplyFn = std::function<std::expected<void, std::string>(std::string_view)>;

/// A handler that parses a decimal integer into `target`.
ApplyFn store_uint(uint64_t& target);
/// A handler that copies the text into `target`.
ApplyFn store_string(std::string& target);

/// Applies `args` (after the subcommand name) to the specs. Returns one precise line on error.
/// `--help` is reported as the error value "help" so the caller prints usage and exits 0.
std::expected<void, std::string> parse_options(std::span<const std::string_view> args,
                                               std::span<const OptionSpec> options,
                                               std::span<const PositionalSpec> positionals);

/// Formats the usage text of a subcommand.
std::string format_usage(std::string_view command, std::string_view summary,
                         std::span<const OptionSpec> options,
                         std::span<const PositionalSpec> positionals);

}  // namespace snpemu::cli
