"""snpemu_fuzz_target: one libFuzzer entry point, two ways to run it.

  <name>       cc_binary. Under --config=fuzz it is a libFuzzer binary (clang, ASan, UBSan);
               otherwise it links the standalone driver (files or seeded random inputs).
  <name>_test  cc_test running the standalone driver over `runs` seeded random inputs, so every
               `bazel test //...` exercises the target deterministically.
Long campaigns: tools/fuzz.sh //test/fuzz:<name> SECONDS.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")
load("//tools:copts.bzl", "SNPEMU_COPTS")

def snpemu_fuzz_target(name, srcs, deps = [], runs = 20000, max_len = 4096, seed = 1, size = "small"):
    cc_binary(
        name = name,
        srcs = srcs,
        copts = SNPEMU_COPTS,
        linkopts = select({
            "//test/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + select({
            "//test/fuzz:fuzzing": [],
            "//conditions:default": ["//test/fuzz:standalone_main"],
        }),
    )
    cc_test(
        name = name + "_test",
        size = size,
        srcs = srcs,
        copts = SNPEMU_COPTS,
        args = ["--runs=%d" % runs, "--max-len=%d" % max_len, "--seed=%d" % seed],
        deps = deps + ["//test/fuzz:standalone_main"],
    )
