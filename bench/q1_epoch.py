"""Study A Q1 epoch time: the course starter's way of training against ours, side by side.

    .venv/bin/python bench/q1_epoch.py --epochs 4 --rounds 2

starter: one `model.fit` on the numpy arrays over all epochs, default settings,
`validation_data` = the test set (as the course starter code trains).
ours: `runs.fit_cached` (one `model.fit` per epoch, each epoch's shuffle from
(seed, epoch), so that runs resume exactly), in each `RunConfig.precision`.
Same model, data, seed, batch size and learning rate. The settings take turns,
round after round, so that other processes' load falls on each alike. An
epoch's time is the median over rounds and epochs, leaving out each run's
first epoch (graph tracing); CPU seconds are the process's, per epoch, over
the whole run (build and tracing included): they move less than wall time
when other processes share the cores.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from lib import models, runs, study_a  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (the first is left out of the median)")
    parser.add_argument("--rounds", type=int, default=2, help="times each setting runs, taking turns")
    parser.add_argument("--settings", nargs="+", default=["starter", "ours", "ours-mixed_bfloat16"],
                        help="starter, ours, ours-<precision>")
    parser.add_argument("--threads", type=int, help="CPU threads (TensorFlow, PyTorch); default: all cores")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    if args.threads:
        runs.set_threads(args.threads)
    runs.setup("quick", args.data_dir)
    base = study_a.config("quick", epochs=args.epochs)  # Q1: 50/60 channels, 10,000 training images
    settings = {}
    for name in args.settings:
        precision = name.partition("-")[2] or "float32"
        train = starter if name.startswith("starter") else ours
        settings[name] = (train, dataclasses.replace(base, precision=precision))
    measured = {name: {"epochs": [], "cpu": [], "accuracy": []} for name in settings}
    for _ in range(args.rounds):
        for name, (train, config) in settings.items():
            cpu = time.process_time()
            seconds, accuracy = train(config)
            measured[name]["cpu"].append((time.process_time() - cpu) / args.epochs)
            measured[name]["epochs"] += seconds[1:]
            measured[name]["accuracy"].append(accuracy)
    print(f"Study A Q1 (10,000 images, batch {base.batch_size}), {args.epochs} epochs x {args.rounds} rounds, "
          f"backend {keras.backend.backend()}, {runs.device_description()}, {runs._threads()} threads")
    figures = {name: {"wall": float(np.median(values["epochs"])), "cpu": float(np.mean(values["cpu"])),
                      "accuracy": values["accuracy"]} for name, values in measured.items()}
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures))


def report(figures):
    """Print each setting's epoch time and its speed relative to the first setting."""
    first = next(iter(figures))
    for name, values in figures.items():
        print(f"{name:<22} {values['wall']:5.2f} s/epoch (x{figures[first]['wall'] / values['wall']:.2f} vs {first})  "
              f"CPU {values['cpu']:5.2f} s/epoch (x{figures[first]['cpu'] / values['cpu']:.2f})  "
              f"final test accuracy {' '.join(f'{a:.4f}' for a in values['accuracy'])}", flush=True)


def measure_in_subprocess(arguments, env=None):
    """Run this script in a fresh process (threads and backend are fixed at start); its figures."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        subprocess.run([sys.executable, __file__, *arguments, "--json", str(out)], env={**os.environ, **(env or {})},
                       check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


if __name__ == "__main__":
    main()
