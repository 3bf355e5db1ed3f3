#!/usr/bin/python3
"""Optuna's ask/tell rate on PostgreSQL: the peer of controller_load.

N processes share one study in an RDBStorage on the given PostgreSQL
database and loop ask -> (zero-time synthetic objective) -> tell over a
categorical NB201-like space (6 edges x 5 operations), for SECONDS seconds
after PREFILL trials were told first (0: a fresh study). Prints one line:
  optuna processes=N prefill=P trials_per_s=R
"""
import argparse
import hashlib
import multiprocessing
import time

import optuna

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = 6


def objective_value(ops):
    digest = hashlib.blake2b("|".join(ops).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 10000 / 100.0


def ask_tell(study):
    trial = study.ask()
    ops = [trial.suggest_categorical(f"edge{i}", OPS) for i in range(EDGES)]
    study.tell(trial, objective_value(ops))


def worker(url, name, seconds, barrier, counter):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url,
                              sampler=optuna.samplers.RandomSampler())
    barrier.wait()  # the clock starts when every process is ready
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        ask_tell(study)
        n += 1
    with counter.get_lock():
        counter.value += n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True,
                        help="postgresql+psycopg2://user@host:port/db")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--prefill", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"peer-{time.time_ns()}"
    study = optuna.create_study(study_name=name, storage=args.url,
                                direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(args.prefill):
        ask_tell(study)
    counter = multiprocessing.Value("q", 0)
    barrier = multiprocessing.Barrier(args.processes)
    procs = [multiprocessing.Process(target=worker,
                                     args=(args.url, name, args.seconds,
                                           barrier, counter))
             for _ in range(args.processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(f"optuna processes={args.processes} prefill={args.prefill} "
          f"trials_per_s={counter.value / args.seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
