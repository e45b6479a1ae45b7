"""Study C's C1 CNN: where a training step's time goes, against its arithmetic.

    .venv/bin/python bench/c_cnn.py --rounds 3

C1 trains `models.build_image_cnn` (conv 5x5x32, conv 5x5x64, fc1 3136 -> 1024,
softmax) on 10,000 images in batches of 50 with Adam: 200 `train_on_batch`
steps per epoch. The script times one step of it (`C1 (ours)`) beside
variants that tell where the time goes or that might remove some:

- SGD instead of Adam: the optimizer's share (Adam passes over fc1's 3.2
  million weights about ten times per step);
- fc1 of 64 units: fc1's share (its kernel is 98% of the weights);
- fc1 as `EinsumDense`, and fc1 with its kernel stored transposed (out x in):
  TensorFlow's input gradient of a MatMul multiplies by the kernel
  transposed, which runs at a fraction of the plain product's rate for
  this shape; candidates for a faster fc1, same arithmetic.

Each row prints milliseconds per step (fastest of `--rounds` rounds of
`--steps` steps, the variants taking turns), its ratio to ours, and the
rate of the model's arithmetic (forward and backward products) in GFLOP/s.
"""

import argparse
import os
import time

from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib.core import backend, models, runs
from lib.studies import c

layers = keras.layers
BATCH = 50


class TransposedDense(layers.Layer):
    """A Dense layer (ReLU) whose kernel is stored as (units, inputs)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(self.units, input_shape[-1]), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return keras.ops.relu(keras.ops.matmul(inputs, keras.ops.transpose(self.kernel)) + self.bias)


def with_fc1(fc1):
    """C1's network with the layer `fc1` in place of its Dense fc1."""
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Dropout(0.5)(fc1(layers.Flatten()(x)))
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


VARIANTS = {
    "C1 (ours)": (models.build_image_cnn, "adam"),
    "SGD": (models.build_image_cnn, "sgd"),
    "fc1 of 64 units": (lambda: models.build_image_cnn(dense_units=64), "adam"),
    "fc1 EinsumDense": (lambda: with_fc1(layers.EinsumDense("ab,bc->ac", output_shape=1024, bias_axes="c",
                                                             activation="relu")), "adam"),
    "fc1 kernel transposed": (lambda: with_fc1(TransposedDense(1024)), "adam"),
}


def gflop_per_step(dense_units=1024):
    """Multiply-adds of a training step x 2: forward, and backward but conv1's input gradient."""
    conv1, conv2 = 784 * 32 * 25, 196 * 64 * 32 * 25
    dense = 3136 * dense_units + dense_units * 10
    return 2 * BATCH * (3 * conv1 + 3 * conv2 + 3 * dense - conv1) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant; the fastest counts")
    parser.add_argument("--steps", type=int, default=50, help="training steps per round")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    session = runs.setup("full", args.data_dir)
    data = runs.load_data(c.cnn_config(session))
    x, y = data.x_train[:BATCH], data.y_train[:BATCH]
    trained = {}
    for name, (build, optimizer) in VARIANTS.items():
        keras.utils.set_random_seed(0)
        trained[name] = build()
        trained[name].compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        for _ in range(3):  # compiles
            trained[name].train_on_batch(x, y)
    times = {name: [] for name in trained}
    for _ in range(args.rounds):
        for name, model in trained.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / args.steps)
    print(f"C1's training step (batch {BATCH}), fastest of {args.rounds} x {args.steps} steps, on "
          f"{backend.device_description()}, {backend.threads()} threads; backend {keras.backend.backend()}")
    print(f"{'variant':<24}{'ms/step':>9}{'ratio':>8}{'GFLOP/s':>9}   s/epoch (200 steps)")
    ours = min(times["C1 (ours)"])
    for name, values in times.items():
        best = min(values)
        work = gflop_per_step(64 if name == "fc1 of 64 units" else 1024)
        print(f"{name:<24}{1000 * best:>9.2f}{ours / best:>7.2f}x{work / best:>9.0f}{200 * best:>10.2f}")


if __name__ == "__main__":
    main()
