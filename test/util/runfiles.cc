// test/util/runfiles.cc
#include "test/util/runfiles.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace snpemu::test {

std::vector<uint8_t> read_runfile(std::string_view workspace_path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  const std::string path = std::string(srcdir != nullptr ? srcdir : ".") + "/" +
                           (workspace != nullptr ? workspace : "snpemu") + "/" +
                           std::string(workspace_path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot open runfile " << path;
    return {};
  }
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace snpemu::test
