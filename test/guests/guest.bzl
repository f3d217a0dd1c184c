"""guest_elf: compiles freestanding C test guests into ELF64 images for snpemu.

  guest_elf(name = "sort", srcs = ["sort.c"])
produces `sort.elf` (a static, non-PIE x86-64 executable linked at 1 MiB, see lib/guest.ld)
and `sort_native`, a cc_library of the same source built with -DGUEST_NATIVE so a test can run
the identical code natively and compare results.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

GUEST_CFLAGS = [
    "-ffreestanding",
    "-nostdlib",
    "-mgeneral-regs-only",
    "-mno-red-zone",
    "-fno-pic",
    "-fno-pie",
    "-no-pie",
    "-static",
    "-O2",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fcf-protection=none",
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--build-id=none",
    "-Wl,-z,noexecstack",
]

def guest_elf(name, srcs, visibility = None):
    lib = [
        "//test/guests/lib:start.S",
        "//test/guests/lib:libc.c",
        "//test/guests/lib:guest.h",
        "//test/guests/lib:guest.ld",
    ]
    native.genrule(
        name = name + "_elf",
        srcs = srcs + lib,
        outs = [name + ".elf"],
        cmd = ("gcc " + " ".join(GUEST_CFLAGS) + " -I. -T $(location //test/guests/lib:guest.ld)" +
               " -o $@ $(location //test/guests/lib:start.S) $(location //test/guests/lib:libc.c) " +
               " ".join(["$(location %s)" % s for s in srcs])),
        visibility = visibility,
    )
    cc_library(
        name = name + "_native",
        srcs = srcs,
        copts = ["-DGUEST_NATIVE", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                 "-Dguest_main=guest_main_" + name],
        deps = ["//test/guests/lib:guest_h"],
        visibility = visibility,
    )
