// emu/main.cc: the `snpemu` executable.
#include <iostream>
#include <string_view>
#include <vector>

#include "emu/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  return snpemu::cli::run_cli(args, std::cout, std::cerr);
}
