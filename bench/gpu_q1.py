"""Study A Q1 at full profile (1000 epochs per seed) on a GPU, beside the published figures.

    KERAS_BACKEND=jax python bench/gpu_q1.py --data-dir DIR [--seeds 3] [--epochs N] [--budget-s 400]

Trains each seed as the Q1 notebook does (`runs.fit_cached`; on a GPU under
JAX whole compiled epochs, lib/device_epochs.py) and prints its seconds per
epoch beside the published 750 s for 1000 epochs on a hosted GPU, and its
test accuracy beside the published one. First it trains 20 epochs twice
from the same seed and says whether the two histories are identical. A seed
is started only if the last one's time still fits in `--budget-s`.
Histories go to `$HISTORY_DIR` (default histories/).
"""

import argparse
import os
import tempfile
import time
from unittest import mock


import numpy as np

from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib.core import backend, config, runs
from lib.studies import published
from lib.studies import a as study_a


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=config.profile_settings(study_a.PROFILES, "full", "a")["seeds"])
    parser.add_argument("--epochs", type=int, help="overrides the profile's 1000 (for a trial run)")
    parser.add_argument("--budget-s", type=float, default=float("inf"), help="start no seed that would end after this")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    session = runs.setup("full", args.data_dir)
    print(f"Study A Q1, full profile, backend {keras.backend.backend()} {keras.__version__}, "
          f"{backend.device_description()}", flush=True)
    began = time.perf_counter()
    repeat = min(args.epochs or 20, 20)
    print(f"same seed twice, {repeat} epochs: histories", "identical" if _repeatable(session, repeat) else "DIFFER", flush=True)

    published_s = published.value("a_q1", "wall_time_s") / 1000
    published_accuracy = published.value("a_q1", "test_accuracy_final")
    last = 0.0
    for seed in range(args.seeds):
        spent = time.perf_counter() - began
        if spent + last > args.budget_s:
            print(f"seeds {seed}-{args.seeds - 1} not run: {spent:.0f} s spent, another {last:.0f} s "
                  f"would pass --budget-s {args.budget_s:.0f}")
            break
        started = time.perf_counter()
        run = runs.fit_cached(study_a.config(session, seed=seed, epochs=args.epochs))
        last = time.perf_counter() - started
        seconds = np.asarray(run.history["epoch_time_s"])
        median = np.median(seconds[1:])  # the first epoch compiles
        accuracy = run.history["metrics"]["test_accuracy"]
        print(f"seed {seed}: {len(seconds)} epochs in {last:.1f} s (build and compile included); per epoch "
              f"median {median:.4f} s, fastest {seconds[1:].min():.4f} s, first {seconds[0]:.2f} s "
              f"(published {published_s:.2f}: x{published_s / median:.0f}); "
              f"test accuracy final {accuracy[-1]:.4f}, mean of the last 200 {np.mean(accuracy[-200:]):.4f} "
              f"(published {published_accuracy})", flush=True)


def _repeatable(session, epochs):
    run_config = study_a.config(session, epochs=epochs, seed=0)
    metrics = []
    with tempfile.TemporaryDirectory() as folder:
        for attempt in ("first", "second"):
            with mock.patch.dict(os.environ, HISTORY_DIR=f"{folder}/{attempt}"):
                metrics.append(runs.fit_cached(run_config, progress=False).history["metrics"])
    return metrics[0] == metrics[1]


if __name__ == "__main__":
    main()
