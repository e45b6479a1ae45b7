"""Why `jobs=2` is not twice as fast on two cores: one run's speed on 1 and on all threads.

    .venv/bin/python bench/threads.py --epochs 3 --rounds 2

Trains Study A Q1 (`bench/q1_epoch.py`, our training, float32) in fresh
processes with 1 thread and with one thread per core, taking turns. If one
run on all cores is nearly twice as fast as on one, it already keeps the
cores busy, and two runs at once (each on all cores, or a core each) cannot
finish the grid much sooner than one after the other.
"""

import argparse
import os

from q1_epoch import combine, measure_in_subprocess, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    counts = sorted({1, os.cpu_count() or 1})
    runs = {count: [] for count in counts}
    for _ in range(args.rounds):
        for count in counts:
            runs[count].append(measure_in_subprocess(["--settings", "ours", "--epochs", str(args.epochs), "--rounds", "1",
                                                      "--threads", str(count)])["ours"])
    print(f"Study A Q1, our training, {args.epochs} epochs x {args.rounds} rounds per thread count, {os.cpu_count()} cores")
    report({f"{count} thread(s)": combine(measured) for count, measured in runs.items()})


if __name__ == "__main__":
    main()
