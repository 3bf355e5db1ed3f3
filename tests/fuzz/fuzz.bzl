"""cc_fuzz_test: a libFuzzer target built with clang, run for a bounded time.

    cc_fuzz_test(name = "spec_fuzz_test", srcs = ["spec_fuzzer.cc"], deps = [...])

makes
  NAME_fuzzer  the libFuzzer binary: NAME_lib and everything it links compiled
               by clang 14 (//third_party/clang) with -fsanitize=fuzzer-no-link,
               address,undefined, in a configuration of its own (a Starlark
               transition), so the default gcc build and its cache are untouched;
  NAME         an sh_test running NAME_fuzzer over corpus/NAME_WITHOUT_TEST/
               (the committed seeds) and regressions/... for `seconds` seconds
               (run_fuzzer.sh; NAS_FUZZ_SECONDS overrides), failing on any crash,
               leak, timeout or sanitizer report;
  NAME_replay  a cc_test built by the default toolchain (gcc) that runs every
               committed seed and regression input once through the same
               LLVMFuzzerTestOneInput (fuzz_replay_main.cc): the inputs stay
               tested in every configuration, --config=asan included.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

_FUZZ_COPTS = [
    "-fsanitize=fuzzer-no-link,address,undefined",
    "-fno-sanitize-recover=undefined",
    "-fno-omit-frame-pointer",
    "-gline-tables-only",
    "-O1",
]

# The toolchain links with the `clang` driver: ask for UBSan's C++ runtime.
_FUZZ_LINKOPTS = ["-fsanitize=address,undefined", "-fsanitize-link-c++-runtime"]

def _without_sanitizers(flags):
    # --config=asan/tsan flags would clash with the fuzzers' own (tsan + asan).
    return [f for f in flags if not f.startswith("-fsanitize")]

def _clang_fuzz_transition_impl(settings, attr):
    return {
        "//command_line_option:crosstool_top": "//third_party/clang:toolchain",
        "//command_line_option:compiler": "clang",
        "//command_line_option:copt": _without_sanitizers(settings["//command_line_option:copt"]) + _FUZZ_COPTS,
        "//command_line_option:linkopt": _without_sanitizers(settings["//command_line_option:linkopt"]) + _FUZZ_LINKOPTS,
    }

_clang_fuzz_transition = transition(
    implementation = _clang_fuzz_transition_impl,
    inputs = [
        "//command_line_option:copt",
        "//command_line_option:linkopt",
    ],
    outputs = [
        "//command_line_option:crosstool_top",
        "//command_line_option:compiler",
        "//command_line_option:copt",
        "//command_line_option:linkopt",
    ],
)

def _clang_fuzz_binary_impl(ctx):
    target = ctx.attr.binary
    if type(target) == "list":
        target = target[0]
    info = target[DefaultInfo]
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(
        output = out,
        target_file = info.files_to_run.executable,
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = [out]).merge(info.default_runfiles)
    return [DefaultInfo(
        executable = out,
        files = depset([out]),
        runfiles = runfiles,
    )]

clang_fuzz_binary = rule(
    implementation = _clang_fuzz_binary_impl,
    doc = "The cc_binary `binary`, built by clang with the fuzzing sanitizers.",
    executable = True,
    attrs = {
        "binary": attr.label(
            cfg = _clang_fuzz_transition,
            executable = True,
            mandatory = True,
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def cc_fuzz_test(name, srcs, deps = [], data = [], seconds = 60, dict = None):
    """A fuzz target run as a test; see the file comment."""
    base = name[:-len("_test")] if name.endswith("_test") else name
    corpus = "corpus/" + base
    regressions = "regressions/" + base
    inputs = native.glob([corpus + "/**", regressions + "/**"])
    cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps,
        alwayslink = True,
    )
    cc_binary(
        name = name + "_bin",
        testonly = True,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],  # only ever built through NAME_fuzzer (clang)
        deps = [":" + name + "_lib"],
    )
    clang_fuzz_binary(
        name = name + "_fuzzer",
        testonly = True,
        binary = ":" + name + "_bin",
    )
    args = [
        "$(rootpath :%s_fuzzer)" % name,
        str(seconds),
        native.package_name() + "/" + corpus,
        native.package_name() + "/" + regressions,
    ]
    if dict:
        args.append("$(rootpath %s)" % dict)
    native.sh_test(
        name = name,
        size = "large",
        timeout = "moderate",
        srcs = ["run_fuzzer.sh"],
        args = args,
        data = [":" + name + "_fuzzer"] + inputs + data + ([dict] if dict else []),
    )
    cc_test(
        name = name + "_replay",
        size = "small",
        args = [
            native.package_name() + "/" + corpus,
            native.package_name() + "/" + regressions,
        ],
        data = inputs + data,
        deps = [
            ":" + name + "_lib",
            ":fuzz_replay_main",
        ],
    )
