// emu/cli/args.cc: option parsing for `snpemu`.
#include "emu/cli/args.h"

#include <charconv>

namespace snpemu::cli {

std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7F && b != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

std::expected<uint64_t, std::string> parse_uint(std::string_view text) {
  uint64_t v = 0;
  if (text.empty()) return std::unexpected(std::string("expected a number, got nothing"));
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return std::unexpected("number '" + printable(text) + "' does not fit in 64 bits");
  }
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return std::unexpected("expected a decimal number, got '" + printable(text) + "'");
  }
  return v;
}

std::expected<uint64_t, std::string> parse_number(std::string_view text) {
  if (!text.starts_with("0x") && !text.starts_with("0X")) return parse_uint(text);
  const std::string_view digits = text.substr(2);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, 16);
  if (ec == std::errc::result_out_of_range) {
    return std::unexpected("number '" + printable(text) + "' does not fit in 64 bits");
  }
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return std::unexpected("expected a number such as 0x30000 or 196608, got '" + printable(text) +
                           "'");
  }
  return v;
}

std::expected<uint64_t, std::string> parse_size(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string_view number = text.substr(0, digits);
  const std::string_view suffix = text.substr(digits);
  const std::string bad =
      "expected a size such as 4G, 512M or 1048576, got '" + printable(text) + "'";
  if (number.empty()) return std::unexpected(bad);
  auto n = parse_uint(number);
  if (!n) return std::unexpected(n.error());
  unsigned shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "K" || suffix == "KiB") {
    shift = 10;
  } else if (suffix == "M" || suffix == "MiB") {
    shift = 20;
  } else if (suffix == "G" || suffix == "GiB") {
    shift = 30;
  } else if (suffix == "T" || suffix == "TiB") {
    shift = 40;
  } else {
    return std::unexpected(bad);
  }
  if (shift != 0 && (*n >> (64 - shift)) != 0) {
    return std::unexpected("size '" + printable(text) + "' does not fit in 64 bits");
  }
  return *n << shift;
}

ApplyFn store_uint(uint64_t& target) {
  return [&target](std::string_view v) -> std::expected<void, std::string> {
    auto n = parse_uint(v);
    if (!n) return std::unexpected(n.error());
    target = *n;
    return {};
  };
}

ApplyFn store_string(std::string& target) {
  return [&target](std::string_view v) -> std::expected<void, std::string> {
    target = v;
    return {};
  };
}

std::expected<void, std::string> parse_options(std::span<const std::string_view> args,
                                               std::span<const OptionSpec> options,
                                               std::span<const PositionalSpec> positionals) {
  size_t next_positional = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") return std::unexpected(std::string("help"));
    if (arg.starts_with("-") && arg != "-") {
      if (!arg.starts_with("--")) {
        return std::unexpected("unknown option '" + printable(arg) + "'");
      }
      std::string_view name = arg.substr(2);
      std::string_view value;
      bool has_inline_value = false;
      if (const size_t eq = name.find('='); eq != std::string_view::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline_value = true;
      }
      if (name == "help") {
        return std::unexpected(has_inline_value ? std::string("option '--help' takes no value")
                                                : std::string("help"));
      }
      const OptionSpec* spec = nullptr;
      for (const OptionSpec& o : options) {
        if (o.name == name) spec = &o;
      }
      if (spec == nullptr) return std::unexpected("unknown option '--" + printable(name) + "'");
      if (spec->value_name.empty()) {
        if (has_inline_value) {
          return std::unexpected("option '--" + printable(name) + "' takes no value");
        }
      } else if (!has_inline_value) {
        if (i + 1 >= args.size()) {
          return std::unexpected("option '--" + printable(name) + "' needs a value (" +
                                 std::string(spec->value_name) + ")");
        }
        value = args[++i];
      }
      if (auto r = spec->apply(value); !r) {
        return std::unexpected("bad value '" + printable(value) + "' for --" + printable(name) +
                               ": " + r.error());
      }
      continue;
    }
    if (next_positional >= positionals.size()) {
      return std::unexpected("unexpected argument '" + printable(arg) + "'");
    }
    const PositionalSpec& p = positionals[next_positional++];
    if (auto r = p.apply(arg); !r) {
      return std::unexpected("bad " + std::string(p.name) + " '" + printable(arg) +
                             "': " + r.error());
    }
  }
  if (next_positional < positionals.size() && !positionals[next_positional].optional) {
    return std::unexpected("missing argument " + std::string(positionals[next_positional].name));
  }
  return {};
}

std::string format_usage(std::string_view command, std::string_view summary,
                         std::span<const OptionSpec> options,
                         std::span<const PositionalSpec> positionals) {
  std::string out = "usage: snpemu " + std::string(command);
  if (!options.empty()) out += " [options]";
  for (const PositionalSpec& p : positionals) {
    out += p.optional ? " [" + std::string(p.name) + "]" : " " + std::string(p.name);
  }
  out += "\n\n" + std::string(summary) + "\n";
  if (!positionals.empty() || !options.empty()) out += "\n";
  for (const PositionalSpec& p : positionals) {
    out += "  " + std::string(p.name);
    out.append(p.name.size() < 22 ? 22 - p.name.size() : 1, ' ');
    out += std::string(p.help) + "\n";
  }
  for (const OptionSpec& o : options) {
    std::string left = "--" + std::string(o.name);
    if (!o.value_name.empty()) left += " " + std::string(o.value_name);
    out += "  " + left;
    out.append(left.size() < 22 ? 22 - left.size() : 1, ' ');
    out += std::string(o.help) + "\n";
  }
  out += "  --help                show this help\n";
  return out;
}

}  // namespace snpemu::cli
