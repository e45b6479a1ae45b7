"""Whole epochs as compiled calls on the JAX backend, with the data kept on the device.

`runs` trains an epoch with a `train_on_batch` loop: each batch is copied
to the device, dispatched and waited for, which on a GPU costs more than
the batch's arithmetic (bench/README.md). `DeviceEpochs` copies the
training and test arrays to the device once; per epoch, one jitted call
runs the epoch's full batches through `model.train_step` with
`jax.lax.scan` (a second call takes the short last batch) and one more
evaluates the test set with `model.test_step`. Steps, batch order and
metrics are those of `runs._train_epoch`: each training batch's metrics
start from reset ones, as `train_on_batch` resets them, and the test
metrics accumulate over the batches, as `evaluate` does.
"""

import jax
import jax.numpy as jnp
import numpy as np


class DeviceEpochs:
    """Trains `model` (compiled) on `data` an epoch per call, JAX backend only.

    Args:
        model: a compiled Keras model.
        data: an object with `x_train`, `y_train`, `x_test`, `y_test` arrays.
        batch_size: mini-batch size.
    """

    def __init__(self, model, data, batch_size):
        self.model, self.batch_size = model, batch_size
        self.train = (jnp.asarray(data.x_train), jnp.asarray(data.y_train))
        self.test = (jnp.asarray(data.x_test), jnp.asarray(data.y_test))
        # Keras builds the compiled loss, metrics and optimizer on first use; the
        # steps below trace with these variables, so they must exist first.
        model.test_on_batch(data.x_test[:1], data.y_test[:1])
        model.optimizer.build(model.trainable_variables)
        model.reset_metrics()
        self.fresh_metrics = _values(model.metrics_variables)
        self._train_steps = jax.jit(self._train_steps_fn)
        self._test = jax.jit(self._test_fn)

    def __call__(self, order):
        """Train on the batches of `order` (indices into the training set), then test.

        Returns:
            The metrics `runs._train_epoch` returns for the same epoch.
        """
        model, size = self.model, self.batch_size
        full = len(order) // size * size
        state = (_values(model.trainable_variables), _values(model.non_trainable_variables),
                 _values(model.optimizer.variables))
        parts = []
        if full:
            state, logs = self._train_steps(state, self.fresh_metrics, *self.train, order[:full].reshape(-1, size))
            parts.append((logs, size))
        if full < len(order):
            state, logs = self._train_steps(state, self.fresh_metrics, *self.train, order[None, full:])
            parts.append((logs, len(order) - full))
        for variables, values in zip((model.trainable_variables, model.non_trainable_variables,
                                      model.optimizer.variables), state):
            for variable, value in zip(variables, values):
                variable.assign(value)
        tested = self._test(state[:2], self.fresh_metrics, *self.test)
        # Batch means weighted by batch size, summed on the host in float64 as the loop sums them.
        totals = {name: sum(float(np.sum(np.asarray(logs[name], np.float64))) * count for logs, count in parts)
                  for name in parts[0][0]}
        return ({name: total / len(order) for name, total in totals.items()}
                | {f"test_{name}": float(value) for name, value in tested.items()})

    def _train_steps_fn(self, state, fresh_metrics, x, y, batches):
        def step(state, batch):
            logs, (*state, _) = self.model.train_step((*state, fresh_metrics), (x[batch], y[batch]))
            return tuple(state), logs

        return jax.lax.scan(step, state, batches)

    def _test_fn(self, variables, metrics, x, y):
        size = self.batch_size
        full = len(x) // size * size

        def step(metrics, batch):
            logs, (_, _, metrics) = self.model.test_step((*variables, metrics), batch)
            return metrics, logs

        logs = {}
        if full:
            batches = (x[:full].reshape(-1, size, *x.shape[1:]), y[:full].reshape(-1, size, *y.shape[1:]))
            metrics, logs = jax.lax.scan(step, metrics, batches)
            logs = {name: values[-1] for name, values in logs.items()}
        if full < len(x):
            metrics, logs = step(metrics, (x[full:], y[full:]))
        return logs


def _values(variables):
    return [variable.value for variable in variables]
