// test/util/runfiles.h: reading a test's Bazel runfiles (its `data` dependencies).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace snpemu::test {

/// Bytes of the runfile at `workspace_path` (e.g. "test/guests/sort.elf"), found through
/// TEST_SRCDIR and TEST_WORKSPACE. Fails the current test (ADD_FAILURE) and returns an empty
/// vector if the file cannot be read.
std::vector<uint8_t> read_runfile(std::string_view workspace_path);

}  // namespace snpemu::test
