"""Study A Q1 epoch time: the course starter's way of training against ours, side by side.

    .venv/bin/python bench/q1_epoch.py --epochs 4 --rounds 2

starter: one `model.fit` on the numpy arrays over all epochs, default settings,
`validation_data` = the test set (as the course starter code trains).
ours: `runs.fit_cached` (a `train_on_batch` loop over each epoch's shuffle
from (seed, epoch), so that runs resume exactly, then `evaluate` on the test
set; on a GPU under JAX, compiled epochs: lib/device_epochs.py), in each
`RunConfig.precision`.
convolutions: only the model's C1-S2 layers, trained on the same batches
towards a zero target and run on the test images: the work no input pipeline,
loop or thread setting removes, so starter / convolutions bounds the ratio
any float32 training of this model can reach with these kernels.
Same model, data, seed, batch size and learning rate. The settings take turns,
round after round, so that other processes' load falls on each alike. An
epoch's time is the median (and the fastest) over rounds and epochs, leaving
out each run's first epoch (graph tracing); CPU seconds are the process's, per
epoch, over the whole run (build and tracing included): they move less than
wall time when other processes share the cores.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


import numpy as np

from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib.core import backend, models, runs
from lib.studies import a as study_a


class _EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.began)


def starter(config):
    """The course starter's training: returns (epoch seconds, final test accuracy)."""
    data = runs.load_data(config)
    keras.utils.set_random_seed(config.seed)
    model = models.build_cifar_cnn(**config.model_kwargs)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=config.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = _EpochTimes()
    fitted = model.fit(data.x_train, data.y_train, batch_size=config.batch_size, epochs=config.epochs,
                       validation_data=(data.x_test, data.y_test), callbacks=[times], verbose=0)
    return times.seconds, fitted.history["val_accuracy"][-1]


def ours(config):
    """Our training, from scratch in a temporary history folder: (epoch seconds, final test accuracy)."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["HISTORY_DIR"] = os.environ["CHECKPOINT_DIR"] = folder
        run = runs.fit_cached(config, progress=False)
    return run.history["epoch_time_s"], run.history["final"]["test_accuracy"]


def convolutions(config):
    """C1-S2 alone, trained as `ours` trains and run on the test images: (epoch seconds, no accuracy)."""
    data = runs.load_data(config)
    keras.utils.set_random_seed(config.seed)
    full = models.build_cifar_cnn(**config.model_kwargs)
    model = keras.Model(full.input, full.get_layer("S2").output)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=config.lr), loss="mean_squared_error")
    target = np.zeros((config.batch_size, *model.output.shape[1:]), "float32")
    seconds = []
    for epoch in range(config.epochs):
        began = time.perf_counter()
        order = runs._epoch_order(config.seed, epoch, len(data.y_train))
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            model.train_on_batch(data.x_train[batch], target[:len(batch)])
        model.predict(data.x_test, batch_size=config.batch_size, verbose=0)
        seconds.append(time.perf_counter() - began)
    return seconds, float("nan")


SETTINGS = {"starter": starter, "ours": ours, "convolutions": convolutions}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (the first is left out of the median)")
    parser.add_argument("--rounds", type=int, default=2, help="times each setting runs, taking turns")
    parser.add_argument("--settings", nargs="+", default=["starter", "ours", "convolutions", "ours-mixed_bfloat16"],
                        help="starter, ours, convolutions, ours-<precision>")
    parser.add_argument("--threads", type=int, help="CPU threads (TensorFlow, PyTorch); default: all cores")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    if args.threads:
        backend.set_threads(args.threads)
    session = runs.setup("quick", args.data_dir)
    base = study_a.config(session, epochs=args.epochs)  # Q1: 50/60 channels, 10,000 training images
    settings = {}
    for name in args.settings:
        setting, _, precision = name.partition("-")
        settings[name] = (SETTINGS[setting], dataclasses.replace(base, precision=precision or "float32"))
    measured = {name: {"epochs": [], "cpu": [], "accuracy": []} for name in settings}
    for _ in range(args.rounds):
        for name, (train, config) in settings.items():
            cpu = time.process_time()
            seconds, accuracy = train(config)
            measured[name]["cpu"].append((time.process_time() - cpu) / args.epochs)
            measured[name]["epochs"] += seconds[1:]
            measured[name]["accuracy"].append(accuracy)
    print(f"Study A Q1 (10,000 images, batch {base.batch_size}), {args.epochs} epochs x {args.rounds} rounds, "
          f"backend {keras.backend.backend()}, {backend.device_description()}, {backend.threads()} threads")
    figures = {name: {"wall": float(np.median(values["epochs"])), "fastest": float(np.min(values["epochs"])),
                      "cpu": float(np.mean(values["cpu"])), "accuracy": values["accuracy"]}
               for name, values in measured.items()}
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures))


def report(figures):
    """Print each setting's epoch time (median, fastest, CPU) and its speed relative to the first setting."""
    first = figures[next(iter(figures))]
    print(f"{'':<22} {'median s/epoch':>21} {'fastest s/epoch':>21} {'CPU s/epoch':>19}  final test accuracy")
    for name, values in figures.items():
        ratios = {key: f"{values[key]:5.2f} (x{first[key] / values[key]:.2f})" for key in ("wall", "fastest", "cpu")}
        print(f"{name:<22} {ratios['wall']:>21} {ratios['fastest']:>21} {ratios['cpu']:>19}  "
              f"{' '.join(f'{a:.4f}' for a in values['accuracy'])}", flush=True)


def combine(rounds):
    """One setting's figures from several rounds' figures (as `main` writes them with --json)."""
    return {"wall": float(np.median([r["wall"] for r in rounds])), "fastest": min(r["fastest"] for r in rounds),
            "cpu": float(np.mean([r["cpu"] for r in rounds])), "accuracy": [a for r in rounds for a in r["accuracy"]]}


def measure_in_subprocess(arguments, env=None):
    """Run this script in a fresh process (threads and backend are fixed at start); its figures."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        done = subprocess.run([sys.executable, __file__, *arguments, "--json", str(out)], env={**os.environ, **(env or {})},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:  # its stderr (backend start-up chatter) only matters when it failed
            sys.exit(f"{' '.join(done.args)} failed with exit status {done.returncode}:\n{done.stderr}")
        return json.loads(out.read_text())


if __name__ == "__main__":
    main()
