"""Study A's full profile (Q1-Q3: 87 runs x 1000 epochs) trained in batches on one GPU, beside the published figures.

    KERAS_BACKEND=jax python bench/gpu_study_a.py --data-dir DIR [--epochs 100] [--budget-s 840] [--sample-epochs 20]

First a sample, side by side in temporary folders: Q1's run (50/60, seed 0)
alone, as `runs.fit_cached` trains it (on a GPU: compiled epochs,
lib/core/device_epochs.py), and Q1's seeds as one batch
(lib/core/batched.py), `--sample-epochs` each; their seconds per run-epoch
(median, compile left out) and the ratio. Then the study into the run cache
(`$HISTORY_DIR`): Q2's 25 channel pairs, then Q3's 4 variants at the pair
Q2 picks (by late mean, as the notebook does), each group of seeds one
compiled program; Q1's run is the grid's 50/60 cell. It prints the total
wall time, the effective seconds per run-epoch (wall time over run-epochs
trained), the throughput against the sample's run alone, whether XLA's
deterministic GPU ops were on, and each question's accuracies beside the
published ones.

At `--budget-s` (counted from the start) the batch in training saves its
runs' resume states and the bench stops; run it again to resume, cached
runs are not retrained. `--epochs 100` is the short mode: 100-epoch runs
(their own cache entries), the 1000-epoch time extrapolated and labelled
as such.

On a CPU it checks that the bench works, not how fast a GPU is: for example
`KERAS_BACKEND=jax python bench/gpu_study_a.py --epochs 2 --images-per-class 10 --sample-epochs 3`
(tens of minutes on 2 cores, most of it compiling; the numbers mean nothing).
"""

import argparse
import dataclasses
import json
import os
import tempfile
import time
from unittest import mock

import numpy as np

from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib import paths
from lib.core import backend, batched, history, runs
from lib.studies import published
from lib.studies import a as study_a

FULL_EPOCHS = 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help=f"epochs per run instead of the profile's {FULL_EPOCHS} (short mode)")
    parser.add_argument("--seeds", type=int, help="seeds per configuration instead of the profile's 3")
    parser.add_argument("--images-per-class", type=int,
                        help="training images per class instead of the 1,000 of data_batch_1 (test: at most 200), for a CPU check")
    parser.add_argument("--budget-s", type=float, default=float("inf"), help="stop (resumably) after this many seconds")
    parser.add_argument("--sample-epochs", type=int, default=20, help="epochs of the side-by-side sample (0: no sample)")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    if keras.backend.backend() != "jax":
        parser.error(f"batched runs need the JAX backend. Received: KERAS_BACKEND={keras.backend.backend()!r}. "
                     "Run with KERAS_BACKEND=jax.")
    began = time.monotonic()
    deadline = began + args.budget_s
    session = runs.setup("full", args.data_dir)
    seeds = study_a.seed_list(session, seeds=args.seeds, scale="a_grid")

    def adapt(config):
        if args.images_per_class:
            per_class = {"train_per_class": args.images_per_class, "test_per_class": min(args.images_per_class, 200)}
            config = dataclasses.replace(config, data_kwargs=per_class)
        return config

    deterministic = "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
    print(f"Study A, full profile{f' with {args.epochs} epochs per run (short mode)' if args.epochs else ''}, "
          f"seeds {seeds}, backend jax {keras.__version__}, {backend.device_description()}, "
          f"XLA deterministic GPU ops {'on' if deterministic else 'off'}", flush=True)

    alone_s = None
    if args.sample_epochs:
        sample = [adapt(study_a.config(session, seed=seed, epochs=args.sample_epochs, scale="a_grid")) for seed in seeds]
        alone_s, together_s = _sample(sample)
        print(f"sample, Q1's 50/60 run, {args.sample_epochs} epochs: alone {alone_s:.4f} s per epoch, "
              f"{len(seeds)} seeds batched {together_s:.4f} s per run-epoch: x{alone_s / together_s:.2f}", flush=True)

    grid = {cell: [adapt(config) for config in configs]
            for cell, configs in study_a.grid_configs(session, seeds, args.epochs).items()}
    groups = {f"Q2 {c1}/{c2}": configs for (c1, c2), configs in grid.items()}
    before = {config.key(): _epochs_done(config) for configs in groups.values() for config in configs}
    started = time.monotonic()
    finished = batched.fit_pending([config for configs in grid.values() for config in configs], deadline=deadline)
    if finished:
        summaries = {cell: history.seed_summary([runs.fit_cached(config, progress=False).history for config in configs])
                     for cell, configs in grid.items()}
        best = history.pick_best(summaries, "test_accuracy_late_mean")
        variants = {f"Q3 {name}": [adapt(config) for config in configs]
                    for name, configs in study_a.variant_configs(session, *best, seeds, args.epochs).items()}
        groups |= variants
        before |= {config.key(): _epochs_done(config) for configs in variants.values() for config in configs}
        finished = batched.fit_pending([config for configs in variants.values() for config in configs], deadline=deadline)
    wall = time.monotonic() - started
    _report(groups, before, wall, finished, alone_s, args.epochs or FULL_EPOCHS, len(seeds))


def _sample(configs):
    """Seconds per run-epoch (median, the first epoch left out): configs[0] alone, then all of `configs` batched."""
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        for name, sample in (("alone", configs[:1]), ("batched", configs)):
            with mock.patch.dict(os.environ, HISTORY_DIR=f"{folder}/{name}", CHECKPOINT_DIR=f"{folder}/{name}-checkpoints"):
                if name == "batched":
                    batched.fit_group(sample, progress=False)
                found = [runs.fit_cached(config, progress=False).history for config in sample]  # alone: trains here
            timings.append(float(np.median([h["epoch_time_s"][1:] for h in found])))
    return timings


def _epochs_done(config):
    """Epochs of `config` in the run cache: its history's, or its resume state's, or 0."""
    path = runs.history_path(config)
    if path.is_file():
        return len(history.read_history(path)["epoch"])
    state = paths.checkpoint_dir() / config.study / path.stem / "resume.npz"
    if state.is_file():
        with np.load(state) as saved:
            return len(json.loads(str(saved["record"]))["epoch"])
    return 0


def _report(groups, before, wall, finished, alone_s, epochs, seed_count):
    trained = sum(_epochs_done(config) - before[config.key()] for configs in groups.values() for config in configs)
    total_runs = (len(study_a.C1_CHANNELS) * len(study_a.C2_CHANNELS) + len(study_a.VARIANTS)) * seed_count
    done = sum(runs._finished_history(config, runs.history_path(config)) is not None
               for configs in groups.values() for config in configs)
    print(f"\n{done} of {total_runs} runs finished{'' if finished else ' (stopped at --budget-s: run again to resume)'}; "
          f"this call trained {trained} run-epochs in {wall:.1f} s", flush=True)
    if trained:
        per_run_epoch = wall / trained
        print(f"effective {per_run_epoch:.4f} s per run-epoch (compiling, checkpoints and testing included)")
        if alone_s:
            print(f"throughput x{alone_s / per_run_epoch:.2f} against the sample's run alone ({alone_s:.4f} s per epoch)")
        label = "measured" if finished and epochs == FULL_EPOCHS and trained == total_runs * epochs else "extrapolated"
        print(f"all of Study A, {total_runs} runs x {FULL_EPOCHS} epochs: {per_run_epoch * total_runs * FULL_EPOCHS / 60:.1f} "
              f"minutes ({label}{'' if label == 'measured' else f' from {trained} run-epochs of {epochs}-epoch runs'})")
    _accuracies(groups)


def _accuracies(groups):
    """Each question's accuracies (mean over seeds) beside the published ones, for the groups that finished."""
    summaries = {}
    for label, configs in groups.items():
        found = [runs._finished_history(config, runs.history_path(config)) for config in configs]
        if all(found):
            summaries[label] = history.seed_summary(found)
    rows = []
    if "Q2 50/60" in summaries:
        q1 = summaries["Q2 50/60"]
        rows += [("Q1 50/60 final", q1["test_accuracy_final"], published.value("a_q1", "test_accuracy_final")),
                 ("Q1 50/60 late mean", q1["test_accuracy_late_mean"], published.value("a_q1", "test_accuracy_late_mean"))]
    grid = {label: summary for label, summary in summaries.items() if label.startswith("Q2")}
    if len(grid) == len(study_a.C1_CHANNELS) * len(study_a.C2_CHANNELS):
        for field, metric in (("test_accuracy_late_mean", "test_accuracy_late_mean_best"),
                              ("test_accuracy_final", "test_accuracy_final_best")):
            label = history.pick_best(grid, field)
            rows.append((f"Q2 best by {field.removeprefix('test_accuracy_')}: {label[3:]}", grid[label][field],
                         published.value("a_q2", metric)))
    for name in study_a.VARIANTS:
        if f"Q3 {name}" in summaries:
            rows.append((f"Q3 {name} final", summaries[f"Q3 {name}"]["test_accuracy_final"],
                         published.value("a_q3", f"{name}_test_accuracy_final")))
    if "Q3 dropout" in summaries:
        rows.append(("Q3 dropout late mean", summaries["Q3 dropout"]["test_accuracy_late_mean"],
                     published.value("a_q3", "dropout_test_accuracy_late_mean")))
    if not rows:
        print("no question has all its runs finished yet: no accuracies")
        return
    print("\ntest accuracy (mean ± std over seeds; late mean: the last 20% of epochs)    published")
    for label, ours, theirs in rows:
        print(f"{label:<40} {ours['mean']:.4f} ± {ours['std']:.4f}    {theirs:.4f}")


if __name__ == "__main__":
    main()
