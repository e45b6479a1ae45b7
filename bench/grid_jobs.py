"""Grid throughput: the same Study A configurations trained with jobs=1 and jobs=2, back to back.

    .venv/bin/python bench/grid_jobs.py --configs 4 --epochs 3

Prints the wall time of each setting, its throughput relative to jobs=1, and
the largest difference of its histories from jobs=1's (0 means bit-identical).
Each setting starts from an empty history directory, so everything trains.
"""

import argparse
import os
import tempfile
import time


import numpy as np

from lib.core import backend, runs
from lib.studies import a as study_a


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=4, help="grid cells to train (from the 5x5 grid)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    session = runs.setup("quick", args.data_dir)
    grid = study_a.grid_configs(session, seeds=[0], epochs=args.epochs)
    configs = [group[0] for group in list(grid.values())[: args.configs]]
    cores = os.cpu_count()
    settings = [("jobs=1", 1, None), (f"jobs=2, {cores} threads each", 2, cores), (f"jobs=2, {cores // 2} thread(s) each", 2, max(1, cores // 2))]
    results = {}
    for label, jobs, threads in settings:
        with tempfile.TemporaryDirectory() as folder:
            os.environ["HISTORY_DIR"] = os.environ["CHECKPOINT_DIR"] = folder
            start = time.perf_counter()
            trained = runs.fit_many(configs, jobs=jobs, progress=False, threads=threads)
            results[label] = (time.perf_counter() - start, [run.history["metrics"] for run in trained])
    base_time, base_metrics = results["jobs=1"]
    print(f"{len(configs)} configurations x {args.epochs} epochs on {backend.device_description()}")
    for label, (seconds, metrics) in results.items():
        difference = max(
            float(np.max(np.abs(np.array(one[name]) - np.array(other[name]))))
            for one, other in zip(base_metrics, metrics) for name in one
        )
        print(f"{label:<26} {seconds:7.1f} s  throughput x{base_time / seconds:.2f}  max |history - jobs=1| {difference:.2e}")


if __name__ == "__main__":
    main()
