"""Study B's character CNN: C1 as a table lookup (`CharConv1D`) against a Conv1D over one-hot input.

    .venv/bin/python bench/char_cnn.py --epochs 3

Both models get the same weights; the script prints the largest difference of
their predictions (equal up to float rounding), then trains each from those
weights on the DBpedia training set (5,600 texts, batch 128, Adam lr 0.01) and
prints the seconds per epoch (after one warm-up epoch that compiles) and the
speed ratio. It also times C1 alone (forward and gradient of one batch of
128 texts, TensorFlow backend), and the rest of the model without C1 (S1 to
the softmax, trained on C1's outputs): no formulation of C1 can make an epoch
faster than that, so one-hot epoch / rest bounds the epoch ratio. Each timing
is the fastest of `--repeats` rounds, the formulations taking turns, so that
other load on the machine disturbs the comparison as little as possible.
"""

import argparse
import dataclasses
import os
import time


import numpy as np

from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib.core import backend, models, runs
from lib.core.data import text


def epoch_seconds(model, data, epochs):
    start = time.perf_counter()
    model.fit(data.x_train, data.y_train, batch_size=128, epochs=epochs, shuffle=False, verbose=0)
    return (time.perf_counter() - start) / epochs


def c1_step(model, ids):
    """A compiled function: C1's output and its gradient for one batch."""
    import tensorflow as tf

    layer = model.get_layer("C1")
    c1 = keras.Model(model.input, layer.output)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(c1(ids)))
        return tape.gradient(loss, layer.trainable_weights)

    return step


def step_seconds(step, count=20):
    start = time.perf_counter()
    for _ in range(count):
        gradients = step()
    keras.ops.convert_to_numpy(gradients[0])
    return (time.perf_counter() - start) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per formulation and round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the fastest counts")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    runs.setup("quick", args.data_dir)
    data = text.load_dbpedia(args.data_dir, encoding="char")
    keras.utils.set_random_seed(0)
    lookup = models.build_char_cnn(lookup=True)
    one_hot = models.build_char_cnn(lookup=False)
    one_hot.set_weights(lookup.get_weights())
    difference = np.max(np.abs(lookup.predict(data.x_test, verbose=0) - one_hot.predict(data.x_test, verbose=0)))
    formulations = {"one-hot Conv1D": one_hot, "lookup CharConv1D": lookup}
    steps = {name: c1_step(model, data.x_train[:128]) for name, model in formulations.items()}
    rest = keras.Model(lookup.get_layer("S1").input, lookup.output)
    c1_out = keras.Model(lookup.input, lookup.get_layer("C1").output).predict(data.x_train, verbose=0)
    trained = {**formulations, "rest (no C1)": rest}
    inputs = {**{name: data for name in formulations}, "rest (no C1)": dataclasses.replace(data, x_train=c1_out)}
    for name, model in trained.items():
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        epoch_seconds(model, inputs[name], 1)  # compiles
    for step in steps.values():
        step()  # traces
    epoch, c1 = {name: [] for name in trained}, {name: [] for name in formulations}
    for _ in range(args.repeats):
        for name, model in trained.items():
            epoch[name].append(epoch_seconds(model, inputs[name], args.epochs))
            if name in steps:
                c1[name].append(step_seconds(steps[name]))
    print(f"char CNN, {len(data.y_train)} texts, batch 128, fastest of {args.repeats} rounds on {backend.device_description()}")
    print(f"max |prediction difference| with equal weights, {len(data.y_test)} test texts: {difference:.2e}")
    for name in trained:
        c1_time = f"C1 forward+gradient {1000 * min(c1[name]):7.2f} ms/batch" if name in c1 else ""
        print(f"{name:<20} training {min(epoch[name]):6.2f} s/epoch   {c1_time}")
    one, fast = "one-hot Conv1D", "lookup CharConv1D"
    print(f"speed ratio (one-hot / lookup): training epoch x{min(epoch[one]) / min(epoch[fast]):.1f}, "
          f"C1 alone x{min(c1[one]) / min(c1[fast]):.1f}; "
          f"bound for any C1 (one-hot / rest): training epoch x{min(epoch[one]) / min(epoch['rest (no C1)']):.1f}")


if __name__ == "__main__":
    main()
