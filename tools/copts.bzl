"""Compiler options for project code: warnings are errors here, never in system headers."""

SNPEMU_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wnon-virtual-dtor",
    "-Wimplicit-fallthrough",
]
