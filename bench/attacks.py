"""D4's attacks: input gradients computed eagerly (as before) against compiled ones (`lib.core.attacks`).

    DATA_DIR=../shared/data .venv/bin/python bench/attacks.py --images 2000 --rounds 2

The model is the one D4 attacks under the full profile: the best of D1-D3
(D3's LSTM with 200 units), read from the shipped reference run (where it is
current; otherwise it trains, 5 epochs). The images are the first test
digits it classifies correctly, as in D4. Per setting, the fastest of `--rounds` passes over the images (in
batches of `attacks.BATCH_SIZE`) after one warm-up pass that traces and
compiles; the settings take turns. D4 makes 88 such passes (8 sizes of
epsilon, each one FGSM step and 10 targeted steps); the last column
multiplies a pass by 88 and scales it to D4's 10,000 digits.
"""

import argparse
import time

import numpy as np

from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib.core import attacks, backend, runs
from lib.studies import d

PASSES = len(d.EPSILONS) * (1 + 10)  # D4: FGSM plus 10 targeted steps per epsilon


def eager_gradient(model, images, labels):
    """The input gradient as `attacks` computed it before: per batch, eagerly, with a tape."""
    import tensorflow as tf

    parts = []
    for start in range(0, len(images), attacks.BATCH_SIZE):
        x = tf.convert_to_tensor(images[start:start + attacks.BATCH_SIZE])
        y = tf.convert_to_tensor(labels[start:start + attacks.BATCH_SIZE])
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = attacks._summed_loss(model, x, y)
        parts.append(tape.gradient(loss, x).numpy())
    return np.concatenate(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="correctly classified test digits to attack")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes per setting, after a warm-up")
    parser.add_argument("--data-dir", default="", help="data directory (default: $DATA_DIR or data/)")
    args = parser.parse_args()
    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"The eager baseline is TensorFlow's; run with KERAS_BACKEND=tensorflow (received {keras.backend.backend()!r}).")

    session = runs.setup("full", args.data_dir)
    label = "D3 LSTM 200 units, adam"  # the best of D1-D3 in the reference run, whose weights ship
    run = runs.fit_cached(d.all_configs(session)[label], progress=False)
    if run.reference is None:
        print(f"note: {label} is a run of yours, not the shipped reference run")
    model, data = run.load_model(), runs.load_data(run.config)
    images, labels, _ = d.attack_set(model, data, args.images)
    images, labels = np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int32)
    settings = {"eager (before)": eager_gradient, "compiled (now)": attacks.input_gradient}

    found = {name: gradient(model, images, labels) for name, gradient in settings.items()}  # warm-up: traces and compiles
    difference = np.max(np.abs(found["eager (before)"] - found["compiled (now)"]))
    scale = np.max(np.abs(found["eager (before)"]))
    fastest = dict.fromkeys(settings, float("inf"))
    for _ in range(args.rounds):
        for name, gradient in settings.items():
            started = time.perf_counter()
            gradient(model, images, labels)
            fastest[name] = min(fastest[name], time.perf_counter() - started)

    print(f"D4's model: {label}; {len(images)} digits, batches of {attacks.BATCH_SIZE}; fastest of {args.rounds} passes "
          f"after a warm-up; backend {keras.backend.backend()}, {backend.device_description()}, {backend.threads()} threads")
    print(f"{'gradient':<16}{'s per pass':>12}{'ratio':>8}{'D4 (88 passes, 10,000 digits)':>32}")
    for name, seconds in fastest.items():
        print(f"{name:<16}{seconds:>12.3f}{fastest['eager (before)'] / seconds:>7.2f}x"
              f"{seconds * PASSES * 10_000 / len(images):>30.0f} s")
    print(f"largest difference between the two gradients: {difference:.2e} (largest gradient entry {scale:.2e})")


if __name__ == "__main__":
    main()
