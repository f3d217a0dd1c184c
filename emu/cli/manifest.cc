// emu/cli/manifest.cc: launch manifest (JSON, nlohmann/json) -> LAUNCH_UPDATE ranges.
#include "emu/cli/manifest.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/hex.h"
#include "emu/cli/args.h"

namespace snpemu::cli {
namespace {

using nlohmann::json;

constexpr uint64_t kGpaLimit = fw::kMaxGpa + 1;            // 2^52
constexpr uint64_t kMaxFilePageBytes = uint64_t{1} << 30;  // one page entry with a file: 1 GiB
constexpr uint64_t kMaxTotalPages = uint64_t{1} << 24;     // 64 GiB of pages per manifest

struct TypeName {
  std::string_view name;
  fw::PageType type;
};
constexpr TypeName kTypes[] = {
    {"normal", fw::PageType::kNormal},   {"vmsa", fw::PageType::kVmsa},
    {"zero", fw::PageType::kZero},       {"unmeasured", fw::PageType::kUnmeasured},
    {"secrets", fw::PageType::kSecrets}, {"cpuid", fw::PageType::kCpuid},
};

// A JSON value for a message: compact, printable, at most about 40 characters. Containers are
// named, not dumped (a deeply nested one must not recurse).
std::string shown(const json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return printable(text);
}

// "0x" + 1..16 hex digits, or a JSON unsigned integer.
std::expected<uint64_t, std::string> address_value(const json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  const std::string bad = "expected a hex string such as \"0x100000\", got " + shown(value);
  if (!value.is_string()) return std::unexpected(bad);
  const std::string& text = value.get_ref<const std::string&>();
  if (text.size() < 3 || text.size() > 18 ||
      (text.substr(0, 2) != "0x" && text.substr(0, 2) != "0X")) {
    return std::unexpected(bad);
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), v, 16);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::unexpected(bad);
  return v;
}

std::expected<vmm::LaunchRange, std::string> parse_page(const json& page, size_t index,
                                                        const std::string& base_dir,
                                                        uint64_t* total_pages) {
  const std::string at = "pages[" + std::to_string(index) + "]";
  if (!page.is_object()) return std::unexpected(at + ": expected an object, got " + shown(page));
  for (const auto& [key, value] : page.items()) {
    (void)value;
    if (key != "type" && key != "gpa" && key != "length" && key != "file") {
      return std::unexpected(at + ": unknown key '" + printable(key) +
                             "' (expected type, gpa, length, file)");
    }
  }
  // type
  if (!page.contains("type")) return std::unexpected(at + ".type: missing");
  const json& type_value = page.at("type");
  const TypeName* type = nullptr;
  if (type_value.is_string()) {
    for (const TypeName& t : kTypes) {
      if (t.name == type_value.get_ref<const std::string&>()) type = &t;
    }
  }
  if (type == nullptr) {
    return std::unexpected(at + ".type: " + shown(type_value) +
                           " is not one of normal, vmsa, zero, unmeasured, secrets, cpuid");
  }
  // gpa
  if (!page.contains("gpa")) return std::unexpected(at + ".gpa: missing");
  auto gpa = address_value(page.at("gpa"));
  if (!gpa) return std::unexpected(at + ".gpa: " + gpa.error());
  if ((*gpa & kPageOffsetMask) != 0) {
    return std::unexpected(at + ".gpa: " + hex(*gpa) + " is not 4 KiB aligned");
  }
  if (*gpa >= kGpaLimit) {
    return std::unexpected(at + ".gpa: " + hex(*gpa) + " is above the 52-bit GPA space");
  }
  // length
  uint64_t length = kPageSize;
  if (page.contains("length")) {
    auto l = address_value(page.at("length"));
    if (!l) return std::unexpected(at + ".length: " + l.error());
    if (*l == 0 || (*l & kPageOffsetMask) != 0) {
      return std::unexpected(at + ".length: " + hex(*l) +
                             " is not a non-zero multiple of 4096 (0x1000)");
    }
    if (*l > kGpaLimit - *gpa) {
      return std::unexpected(at + ".length: " + hex(*gpa) + " + " + hex(*l) +
                             " runs past the 52-bit GPA space");
    }
    length = *l;
  }
  const uint64_t pages = length / kPageSize;
  if (pages > kMaxTotalPages - *total_pages) {
    return std::unexpected(at +
                           ".length: the manifest covers more than 2^24 pages (64 GiB), "
                           "the model's limit");
  }
  *total_pages += pages;
  // file
  const bool needs_file = type->type == fw::PageType::kNormal || type->type == fw::PageType::kVmsa;
  const bool takes_file =
      needs_file || type->type == fw::PageType::kUnmeasured || type->type == fw::PageType::kCpuid;
  vmm::LaunchRange range{type->type, Gpa{*gpa}, pages, {}, at};
  if (!page.contains("file")) {
    if (needs_file) {
      return std::unexpected(at + ".file: missing (required for type " + std::string(type->name) +
                             ")");
    }
    return range;
  }
  if (!takes_file) {
    return std::unexpected(at + ".file: not allowed for type " + std::string(type->name) +
                           " (the firmware writes that page)");
  }
  const json& file_value = page.at("file");
  if (!file_value.is_string() || file_value.get_ref<const std::string&>().empty()) {
    return std::unexpected(at + ".file: expected a non-empty path string, got " +
                           shown(file_value));
  }
  if (length > kMaxFilePageBytes) {
    return std::unexpected(at + ".length: " + hex(length) +
                           " is above 1 GiB, the model's limit for a page with a file");
  }
  const std::string path =
      (std::filesystem::path(base_dir) / file_value.get_ref<const std::string&>()).string();
  auto bytes = read_whole_file(path);
  if (!bytes) return std::unexpected(at + ".file: " + bytes.error());
  if (bytes->size() > length) {
    return std::unexpected(at + ".file: '" + printable(path) + "' is " +
                           std::to_string(bytes->size()) + " bytes, longer than length " +
                           hex(length));
  }
  bytes->resize(length, 0);  // a short file is zero-padded
  range.contents = std::move(*bytes);
  return range;
}

}  // namespace

std::expected<std::vector<uint8_t>, std::string> read_whole_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return std::unexpected("'" + printable(path) + "' is a directory");
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::unexpected("cannot open '" + printable(path) + "'");
  const std::streamoff size = in.tellg();
  if (size < 0) return std::unexpected("cannot read '" + printable(path) + "'");
  if (size > (std::streamoff{1} << 30)) {
    return std::unexpected("'" + printable(path) + "' is larger than 1 GiB");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    return std::unexpected("cannot read '" + printable(path) + "'");
  }
  return bytes;
}

std::expected<std::vector<vmm::LaunchRange>, std::string> parse_manifest(
    std::string_view text, const std::string& base_dir) {
  // nlohmann reports a parse error only as an exception; it is caught here, at the boundary.
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (const size_t close = what.find("] ");
        what.starts_with("[json.exception") && close != std::string::npos) {
      what = what.substr(close + 2);
    }
    return std::unexpected("bad JSON: " + printable(what));
  }
  if (!doc.is_object()) {
    return std::unexpected("expected an object {\"pages\": [...]}, got " + shown(doc));
  }
  for (const auto& [key, value] : doc.items()) {
    (void)value;
    if (key != "pages") {
      return std::unexpected("unknown top-level key '" + printable(key) + "' (expected pages)");
    }
  }
  if (!doc.contains("pages")) return std::unexpected("pages: missing");
  const json& pages = doc.at("pages");
  if (!pages.is_array()) return std::unexpected("pages: expected an array, got " + shown(pages));
  std::vector<vmm::LaunchRange> ranges;
  uint64_t total_pages = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    auto range = parse_page(pages.at(i), i, base_dir, &total_pages);
    if (!range) return std::unexpected(range.error());
    ranges.push_back(std::move(*range));
  }
  return ranges;
}

std::expected<std::vector<vmm::LaunchRange>, std::string> read_manifest(const std::string& path) {
  const std::string at = "manifest '" + printable(path) + "': ";
  auto bytes = read_whole_file(path);
  if (!bytes) return std::unexpected(at + bytes.error());
  const std::string text(bytes->begin(), bytes->end());
  auto ranges = parse_manifest(text, std::filesystem::path(path).parent_path().string());
  if (!ranges) return std::unexpected(at + ranges.error());
  return ranges;
}

}  // namespace snpemu::cli
