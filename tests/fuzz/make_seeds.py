#!/usr/bin/env python3
"""Writes the binary seed inputs of arch_fuzz_test and service_fuzz_test.

Run from the repository root:  python3 tests/fuzz/make_seeds.py
Text protos below are encoded with /usr/bin/protoc --encode, framed as the
fuzz targets expect (see the comment at the top of each *_fuzzer.cc), and
written to tests/fuzz/corpus/<target>/seed_<name>. spec_fuzz_test's seeds are
the example specs (examples/*.yaml), copied as they are.
"""
import os
import struct
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def encode(message, text):
    return subprocess.run(
        ["protoc", "--encode=nas.v1." + message, "-I", ".",
         "proto/nas/v1/service.proto"],
        input=text.encode(), stdout=subprocess.PIPE, check=True, cwd=ROOT).stdout


def u16(n):
    return struct.pack("<H", n)


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, "seed_" + name), "wb") as f:
        f.write(data)


NB201_SPACE = "nb201 {}"
DARTS_SPACE = "darts {}"
ELASTIC_SPACE = """elastic {
  stem_channels: 16
  stages { channels: 16 stride: 1 depths: [1, 2] expand_ratios: [3, 6] kernel_sizes: [3, 5] }
  stages { channels: 24 stride: 2 depths: [2, 3] expand_ratios: [3, 6] kernel_sizes: [3, 5, 7] }
  resolutions: [28, 32]
  width_multipliers: [0.75, 1.0]
}"""
NB201_ARCH = """cell { normal {
  nodes { edges { input: 0 op: "nor_conv_3x3" } }
  nodes { edges { input: 0 op: "nor_conv_3x3" } edges { input: 1 op: "avg_pool_3x3" } }
  nodes { edges { input: 0 op: "skip_connect" } edges { input: 1 op: "none" } edges { input: 2 op: "skip_connect" } }
} }"""
ELASTIC_ARCH = """elastic {
  stages { depth: 1 expand_ratios: [3] kernel_sizes: [5] }
  stages { depth: 2 expand_ratios: [6, 3] kernel_sizes: [7, 3] }
  resolution: 32
  width_multiplier: 1.0
}"""


def arch_seeds():
    t = "arch_fuzz"
    write(t, "nb201_string", b"\x00|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    write(t, "nb201_string_table", b"\x00|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    for name, space, arch in [("nb201", NB201_SPACE, NB201_ARCH),
                              ("elastic", ELASTIC_SPACE, ELASTIC_ARCH)]:
        s = encode("SearchSpace", space)
        write(t, "encode_" + name, b"\x01" + u16(len(s)) + s + encode("Architecture", arch))
    for name, space in [("nb201", NB201_SPACE), ("darts", DARTS_SPACE),
                        ("elastic", ELASTIC_SPACE)]:
        s = encode("SearchSpace", space)
        write(t, "decode_" + name, b"\x02" + u16(len(s)) + s + struct.pack("<Q", 12345))
    write(t, "darts_config", b'\x03{"searchEpochs":2,"unrolled":true,"latencyWeights":[0.5]}')
    write(t, "scaled_config", b'\x03{"phase":"scale","alpha":1.25,"beta":1,"gamma":1.25,"phi":2}')


TABLE_JOB = """spec {
  name: "fuzz"
  search_space { nb201 {} }
  strategy { regularized_evolution { population: 4 sample_size: 2 } }
  objectives { metric: "cifar10_valid_12ep" direction: MAXIMIZE }
  evaluation { table { path: "data/nb201/nb201_cifar10.csv" } }
  budget { max_trials: 3 }
}
request_id: "r1\""""


def call(method, message, text):
    data = encode(message, text)
    return bytes([method]) + u16(len(data)) + data


def service_seeds():
    t = "service_fuzz"
    create = call(0, "CreateJobRequest", TABLE_JOB)
    register = call(9, "RegisterWorkerRequest", 'info { name: "w" device: "cpu" threads: 1 }')
    acquire = call(10, "AcquireTrialRequest", 'worker_id: "$"')
    report = 'worker_id: "$" trial_id: -1 attempt: -1 '
    write(t, "lifecycle", create
          + call(1, "GetJobRequest", 'job_id: "$"')
          + call(2, "ListJobsRequest", "page_size: 2")
          + register + acquire
          + call(11, "HeartbeatRequest", report)
          + call(12, "ReportProgressRequest", report + 'measurement { step: 1 metrics { key: "acc" value: 0.5 } }')
          + call(13, "CompleteTrialRequest", report + 'metrics { key: "cifar10_valid_12ep" value: 91.5 } params: 1000 macs: 2000')
          + call(7, "ListTrialsRequest", 'job_id: "$" page_size: 1 with_measurements: true')
          + call(8, "GetParetoFrontRequest", 'job_id: "$"'))
    write(t, "fail_and_expire", create + register + acquire
          + call(14, "FailTrialRequest", report + 'reason: "oom" message: "out of memory"')
          + acquire + bytes([15]) + u16(1) + b"\x10"
          + call(11, "HeartbeatRequest", report))
    write(t, "job_controls", create
          + call(4, "JobRequest", 'job_id: "$"')
          + call(5, "JobRequest", 'job_id: "$"')
          + call(6, "ExtendBudgetRequest", 'job_id: "$" add_trials: 2 add_wall_seconds: 60')
          + call(3, "JobRequest", 'job_id: "$"')
          + call(6, "ExtendBudgetRequest", 'job_id: "$" add_trials: 1'))
    write(t, "bad_requests", call(0, "CreateJobRequest", "")
          + call(1, "GetJobRequest", "")
          + call(7, "ListTrialsRequest", 'job_id: "x" page_token: "ten"')
          + call(10, "AcquireTrialRequest", "")
          + call(13, "CompleteTrialRequest", 'worker_id: "w" trial_id: 0 attempt: 1'))


if __name__ == "__main__":
    arch_seeds()
    service_seeds()
