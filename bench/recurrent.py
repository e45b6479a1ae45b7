"""Epoch times of the recurrent models of Studies B-D: the starter's `fit`, our loop, and the per-step floor.

    .venv/bin/python bench/recurrent.py --rounds 2

Per model, from the same initial weights and on the same batches:

- starter: one `model.fit` per epoch with the test set as `validation_data`
  (the course notebooks' way; its validation batch is the training batch);
- ours (eval 128): our training loop (`runs._train_epoch`, a `train_on_batch`
  loop, then `evaluate`) with the test set in batches of the training
  batch, as before issue 19;
- ours: the same loop with test batches of `runs.EVAL_BATCH_SIZE` (today's);
- recurrence: the recurrent layers alone, forward and gradient of one
  training batch's inputs, times the batches of an epoch: what any training
  loop pays at least with Keras's recurrent layers;
- NumPy forward: the first recurrent layer's forward pass for one batch in
  NumPy, times the batches of an epoch: the arithmetic of the steps with
  no framework around it, a floor for the forward pass alone.

Each epoch time is the fastest of `--rounds` epochs after one warm-up epoch
that compiles; the settings take turns so that other load disturbs the
comparison as little as possible. `--threads 1` measures what each worker
of `make all JOBS=2` gets. Under JAX on the CPU (`make test-jax` builds
.venv-jax) it measures the same columns there:

    KERAS_BACKEND=jax .venv-jax/bin/python bench/recurrent.py --rounds 2
"""

import argparse
import os
import time

import numpy as np

from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib.core import backend, models, runs
from lib.studies import b, c, d

MODELS = {
    "B char GRU": lambda s: b.config(s, "char_rnn"),
    "B word GRU": lambda s: b.config(s, "word_rnn"),
    "B char 2-layer GRU": lambda s: b.config(s, "char_rnn", num_layers=2),
    "B char LSTM": lambda s: b.config(s, "char_rnn", cell="lstm"),
    "B char vanilla RNN": lambda s: b.config(s, "char_rnn", cell="simple_rnn"),
    "C MNIST LSTM 128": lambda s: c.rnn_config(s, cell="lstm", units=128, scale="c_rnn_grid"),
    "C MNIST GRU 2x128": lambda s: c.rnn_config(s, cell="gru", units=128, num_layers=2, scale="c_rnn_grid"),
    "D MNIST SimpleRNN 128": lambda s: d.config(s),
}


def compiled(config, weights=None):
    keras.utils.set_random_seed(config.seed)
    model = runs._build_model(config)
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=models.make_optimizer(config.optimizer, config.lr, config.momentum, config.clipvalue),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def starter_epoch(model, data, order, batch_size):
    model.fit(data.x_train[order], data.y_train[order], batch_size=batch_size, epochs=1, shuffle=False,
              validation_data=(data.x_test, data.y_test), verbose=0)


def ours_epoch(eval_batch):
    """Our epoch, testing in batches of `eval_batch` (None: `runs.EVAL_BATCH_SIZE`)."""
    def epoch(model, data, order, batch_size):
        saved, runs.EVAL_BATCH_SIZE = runs.EVAL_BATCH_SIZE, eval_batch or runs.EVAL_BATCH_SIZE
        try:
            runs._train_epoch(model, data, order, batch_size)
        finally:
            runs.EVAL_BATCH_SIZE = saved
    return epoch


def recurrence_step(model, data, batch_size):
    """A compiled function: the recurrent layers' forward pass and gradient on one batch's inputs to them."""
    cells = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    inputs = keras.Model(model.input, cells[0].input).predict(data.x_train[:batch_size], verbose=0)
    stack = keras.Sequential(cells)
    if keras.backend.backend() == "jax":
        import jax

        stack(inputs)  # stateless_call wants the Sequential built; its layers already are
        trainable = [variable.value for variable in stack.trainable_variables]
        others = [variable.value for variable in stack.non_trainable_variables]
        gradient = jax.jit(jax.grad(lambda weights: stack.stateless_call(weights, others, inputs)[0].sum()))
        return (lambda: gradient(trainable)), cells[0], inputs

    import tensorflow as tf

    weights = stack.trainable_weights

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(stack(inputs))
        return tape.gradient(loss, weights)

    return step, cells[0], inputs


def numpy_forward(cell_layer, inputs):
    """The first recurrent layer's forward pass in NumPy (float32): seconds for one batch."""
    cell = cell_layer.cell
    kernel, recurrent, bias = (keras.ops.convert_to_numpy(w) for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
    units, projected = cell.units, inputs @ kernel
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    h = np.zeros((len(inputs), units), "float32")
    memory = np.zeros_like(h)
    start = time.perf_counter()
    for t in range(inputs.shape[1]):
        x = projected[:, t]
        if isinstance(cell_layer, keras.layers.GRU):
            inner = h @ recurrent + bias[1]
            x = x + bias[0]
            z, r = sigmoid(x[:, :units] + inner[:, :units]), sigmoid(x[:, units:2 * units] + inner[:, units:2 * units])
            n = np.tanh(x[:, 2 * units:] + r * inner[:, 2 * units:])
            h = n + z * (h - n)
        elif isinstance(cell_layer, keras.layers.LSTM):
            pre = x + bias + h @ recurrent
            i, f, o = sigmoid(pre[:, :units]), sigmoid(pre[:, units:2 * units]), sigmoid(pre[:, 3 * units:])
            memory = f * memory + i * np.tanh(pre[:, 2 * units:3 * units])
            h = o * np.tanh(memory)
        else:
            h = np.tanh(x + bias + h @ recurrent)
    return time.perf_counter() - start


def fastest(function, repeats=20):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
    keras.ops.convert_to_numpy(result[0])
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="timed epochs per setting; the fastest counts")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--only", nargs="*", default=list(MODELS), help=f"models, of {list(MODELS)}")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    session = runs.setup("quick", args.data_dir)
    if args.threads:
        backend.set_threads(args.threads)
    print(f"fastest of {args.rounds} epochs after a warm-up, on {backend.device_description()}, {backend.threads()} threads; "
          f"backend {keras.backend.backend()}")
    print(f"{'model':<24}{'starter':>9}{'ours (eval 128)':>17}{'ours':>8}{'ours/starter':>14}{'recurrence':>12}{'NumPy fwd':>11}   s/epoch")
    for name in args.only:
        config = MODELS[name](session)
        data = runs.load_data(config)
        settings = {"starter": starter_epoch, "ours (eval 128)": ours_epoch(config.batch_size), "ours": ours_epoch(None)}
        weights = compiled(config).get_weights()
        trained = {setting: compiled(config, weights) for setting in settings}
        times = {setting: [] for setting in settings}
        for epoch in range(args.rounds + 1):
            order = runs._epoch_order(config.seed, epoch, len(data.y_train))
            for setting, run_epoch in settings.items():
                start = time.perf_counter()
                run_epoch(trained[setting], data, order, config.batch_size)
                if epoch:  # epoch 0 compiles
                    times[setting].append(time.perf_counter() - start)
        batches = -(-len(data.y_train) // config.batch_size)
        step, first_cell, inputs = recurrence_step(trained["ours"], data, config.batch_size)
        recurrence = fastest(step, 10) * batches
        floor = min(numpy_forward(first_cell, inputs) for _ in range(3)) * batches
        best = {setting: min(values) for setting, values in times.items()}
        print(f"{name:<24}{best['starter']:>9.3f}{best['ours (eval 128)']:>17.3f}{best['ours']:>8.3f}"
              f"{best['starter'] / best['ours']:>13.2f}x{recurrence:>12.3f}{floor:>11.3f}", flush=True)


if __name__ == "__main__":
    main()
