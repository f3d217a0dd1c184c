"""ghcb_guest_elf: a freestanding test guest linked with the ghcb/guest library.

  ghcb_guest_elf(name = "demo", srcs = ["demo.c"])
produces `demo.elf` (linked at 1 MiB by //test/guests/lib:guest.ld, with start.S and libc.c of
//test/guests/lib) and `demo_native`, a cc_library of the same source built with -DGUEST_NATIVE
and -DGHCB_GUEST_NATIVE against :ghcb_guest_native, with guest_main renamed guest_main_<name>.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")
load("//test/guests:guest.bzl", "GUEST_CFLAGS")

GHCB_GUEST_SRCS = [
    "aes_gcm.c",
    "attest.c",
    "call.c",
    "console.c",
    "idt.c",
    "msr_protocol.c",
    "primitives.c",
    "psc.c",
    "setup.c",
    "vc.c",
    "vc_decode.c",
]

# C flags of the native build. -fno-strict-aliasing: the PSC descriptor is accessed in the GHCB's
# byte-array shared buffer (Linux builds with the same flag).
GHCB_GUEST_C_COPTS = [
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-fno-strict-aliasing",
]

def ghcb_guest_elf(name, srcs, visibility = None):
    lib = ["//ghcb/guest:%s" % s for s in GHCB_GUEST_SRCS] + ["//ghcb/guest:ghcb_guest.h"]
    rt = [
        "//test/guests/lib:start.S",
        "//test/guests/lib:libc.c",
        "//test/guests/lib:guest.h",
        "//test/guests/lib:guest.ld",
    ]
    native.genrule(
        name = name + "_elf",
        srcs = srcs + lib + rt,
        outs = [name + ".elf"],
        cmd = ("gcc " + " ".join(GUEST_CFLAGS) + " -fno-strict-aliasing -I." +
               " -T $(location //test/guests/lib:guest.ld) -o $@" +
               " $(location //test/guests/lib:start.S) $(location //test/guests/lib:libc.c) " +
               " ".join(["$(location //ghcb/guest:%s)" % s for s in GHCB_GUEST_SRCS]) + " " +
               " ".join(["$(location %s)" % s for s in srcs])),
        visibility = visibility,
    )
    cc_library(
        name = name + "_native",
        srcs = srcs,
        copts = GHCB_GUEST_C_COPTS + ["-DGUEST_NATIVE", "-Dguest_main=guest_main_" + name],
        deps = ["//ghcb/guest:ghcb_guest_native", "//test/guests/lib:guest_h"],
        visibility = visibility,
    )
