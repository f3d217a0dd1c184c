// emu/cli/manifest.h: the launch manifest of `snpemu measure --manifest LAUNCH.json`.
//
// An explicit launch plan, so that any page list can be measured as independent tools do:
//
//   {"pages": [{"type": "normal", "gpa": "0x100000", "file": "code.bin"},
//              {"type": "zero", "gpa": "0x800000", "length": "0x9000"},
//              {"type": "secrets", "gpa": "0x80d000"},
//              {"type": "cpuid", "gpa": "0x80e000"},
//              {"type": "vmsa", "gpa": "0xfffffffff000", "file": "bsp_vmsa.bin"}]}
//
// Pages are measured in order from an all-zero digest. Per page:
//   type    required: normal | vmsa | zero | unmeasured | secrets | cpuid
//   gpa     required: "0x..." (1-16 hex digits) or a JSON unsigned integer; 4 KiB aligned
//   length  optional, same forms: a non-zero multiple of 4096 (default one page), covering
//           consecutive pages from gpa; gpa + length must not pass 2^52
//   file    required for normal and vmsa, optional for unmeasured and cpuid (contents not
//           measured), refused for zero and secrets (the firmware writes those). Relative paths
//           are relative to the manifest's directory. A file shorter than length is zero-padded;
//           a longer one is an error.
// Any other key, at the top level or in a page, is an error (it is most likely a typo).
// Model limits: a page with a file covers at most 1 GiB; a manifest at most 2^24 pages (64 GiB).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "emu/vmm/launch_plan.h"

namespace snpemu::cli {

/// Reads a whole file (at most 1 GiB); one precise line naming the path if it cannot.
std::expected<std::vector<uint8_t>, std::string> read_whole_file(const std::string& path);

/// Parses manifest `text`; files are resolved against `base_dir`. Errors are one line naming the
/// page and field, e.g. "pages[2].gpa: 0x1001 is not 4 KiB aligned".
std::expected<std::vector<vmm::LaunchRange>, std::string> parse_manifest(
    std::string_view text, const std::string& base_dir);

/// Reads and parses the manifest at `path` (files relative to its directory). Errors are one
/// line: "manifest 'PATH': <what parse_manifest says>".
std::expected<std::vector<vmm::LaunchRange>, std::string> read_manifest(const std::string& path);

}  // namespace snpemu::cli
