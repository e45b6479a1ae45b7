"""Several runs of one shape trained together, as one compiled program (JAX backend).

Runs whose configs differ only in seed build models of one shape: the same
variables, initialised differently, trained on their own batch orders.
`BatchedEpochs` stacks their variables along a leading axis and trains them
with `jax.vmap` over the epoch of `device_epochs.DeviceEpochs` (the same
`model.train_step` in `jax.lax.scan`), so a GPU runs one program for R runs
instead of R small ones. Each run trains what it trains alone up to float
rounding (a batched convolution sums in another order; tests/test_batched.py),
and `fit_group` keeps each run's lock, resume states, final weights and
history as `runs.fit_cached` does.

Batching is an execution detail, like `jobs`: run keys do not hash this
module, and a run's key is the same batched or alone.
"""

import contextlib
import datetime
import json
import os
import time

import numpy as np

from lib import files, paths
from lib.core import backend, checkpoints, models, runs
from lib.core.backend import keras

# BATCH_RUNS: "auto" (or unset) batches under JAX on a GPU only; "1" batches under JAX anywhere; "0" never.
_SETTINGS = ("auto", "0", "1")


def wanted():
    """Whether `runs.fit_many` trains its pending runs in batches (`$BATCH_RUNS`, see `_SETTINGS`).

    Raises:
        ValueError: `$BATCH_RUNS` is not one of `_SETTINGS`, or is "1" under a backend other than JAX.
    """
    setting = os.environ.get("BATCH_RUNS") or "auto"
    if setting not in _SETTINGS:
        raise ValueError(f"Invalid value for BATCH_RUNS. Received: {setting!r}. Expected one of {_SETTINGS}.")
    on_jax = keras.backend.backend() == "jax"
    if setting == "1" and not on_jax:
        raise ValueError(f"BATCH_RUNS=1 needs the JAX backend. Received: KERAS_BACKEND={keras.backend.backend()!r}. "
                         "Set KERAS_BACKEND=jax, or BATCH_RUNS=0.")
    return setting == "1" or (setting == "auto" and on_jax and backend.has_gpu())


def shape_key(config):
    """What runs must share to train in one batch: their config but the seed, and their data directory."""
    identity = {name: value for name, value in config.as_dict().items() if name != "seed"}
    return json.dumps([identity, str(config.session.data_dir)], sort_keys=True)


def groups(configs):
    """`configs` split into lists of equal `shape_key`, in order of first appearance."""
    found = {}
    for config in configs:
        found.setdefault(shape_key(config), []).append(config)
    return list(found.values())


def fit_pending(configs, progress=True, deadline=None):
    """Train `configs` one batch per shape (`groups`, `fit_group`); each lands in the run cache.

    A run alone in its shape trains with `runs.fit_cached`, as without batching.

    Args:
        configs: `RunConfig`s.
        progress: print the batches and each one's epoch progress.
        deadline: a `time.monotonic()` value, or None. Past it, the batch in
            training stops after its epoch, saving each run's resume state,
            and no other batch starts; a later call resumes.

    Returns:
        Whether every run finished (False when the deadline stopped them).
    """
    batches = groups(configs)
    if progress:
        print(f"batched training: {len(configs)} runs in {len(batches)} programs "
              f"(of {', '.join(str(len(batch)) for batch in batches)} runs)", flush=True)
    for batch in batches:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        if len(batch) == 1:
            runs.fit_cached(batch[0], progress)
        elif not fit_group(batch, progress, deadline):
            return False
    return True


def fit_group(configs, progress=True, deadline=None):
    """Train the runs of `configs` (one `shape_key`) that are not cached yet, together.

    Each run's lock is held while the batch trains (taken in key order, so
    two processes cannot wait on each other); a run that another process
    finished meanwhile is left out.

    Returns:
        Whether every run finished (False: `deadline` stopped them, see `fit_pending`).
    """
    members = []
    with contextlib.ExitStack() as locks:
        for config in sorted(configs, key=lambda config: config.key()):
            runs._check_session(config)
            key = config.key()
            path, run_dir = runs.history_path(config, key), paths.checkpoint_dir() / config.study / key
            if runs._finished_history(config, path) is not None:
                continue
            runs._check_writable(path, run_dir)
            locks.enter_context(checkpoints.run_lock(run_dir.with_suffix(".lock"), f"{config.study}/{key}", progress))
            if runs._finished_history(config, path) is None:  # another process may have just finished it
                members.append(_Member(config, key, path, run_dir))
        return not members or _train(members, progress, deadline)


class _Member:
    """One run of a batch: its config, files, model and record (as `runs._train` keeps them)."""

    def __init__(self, config, key, path, run_dir):
        self.config, self.key, self.path, self.run_dir = config, key, path, run_dir
        self.model = self.record = None
        self.finished = False


def _train(members, progress, deadline):
    # Mirrors runs._train per run. That function is part of every run key, so
    # it is not split up to share these steps: tests/test_batched.py checks
    # that both write the same history.
    data = runs.load_data(members[0].config)
    for subset, labels in (("training", data.y_train), ("test", data.y_test)):
        if len(labels) == 0:
            config = members[0].config
            raise ValueError(f"Data set {config.data!r} with data_kwargs={config.data_kwargs} has no {subset} examples "
                             f"(data directory {config.session.data_dir}). Expected at least one.")
    for member in members:
        config = member.config
        keras.utils.set_random_seed(config.seed)
        member.model = runs._build_model(config)
        member.model.compile(
            optimizer=models.make_optimizer(config.optimizer, config.lr, config.momentum, config.clipvalue),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        member.record = checkpoints.load_state(member.run_dir / "resume.npz", member.model)
        if member.record is None:
            member.record = {"metrics": {}, "epoch": [], "epoch_time_s": [], "start": time.time(), "status": "complete"}
        elif progress:
            print(f"[{runs.run_label(config)}] resuming after epoch {len(member.record['epoch'])} of {config.epochs}",
                  flush=True)
    # Runs resumed from different epochs train in separate batches, each from its own epoch.
    by_start = {}
    for member in members:
        by_start.setdefault(len(member.record["epoch"]), []).append(member)
    return all(_train_batch(batch, data, start, progress, deadline) for start, batch in sorted(by_start.items()))


def _train_batch(members, data, start, progress, deadline):
    config, every = members[0].config, runs.checkpoint_every()
    epochs = BatchedEpochs([member.model for member in members], data, config.batch_size)
    name = f"{runs.run_label(config)} and {len(members) - 1} more seeds"
    bar = runs._progress_bar(name, config.epochs, start, progress)
    for epoch in range(start, config.epochs):
        began = time.perf_counter()
        logs = epochs([runs._epoch_order(member.config.seed, epoch, len(data.y_train)) for member in members])
        # Each run's share of the batch's time: what one run-epoch cost.
        share = (time.perf_counter() - began) / len(members)
        for index, (member, metrics) in enumerate(zip(members, logs)):
            if member.finished:  # diverged earlier: still computed, no longer recorded
                continue
            if runs.record_epoch(member.config, member.record, epoch, metrics, share):
                epochs.write_back(index)
                _finish(member, data, len(members))
        accuracies = [member.record["metrics"]["test_accuracy"][-1] for member in members if not member.finished]
        if accuracies:
            bar.set_postfix_str(f"test_accuracy {min(accuracies):.4f}-{max(accuracies):.4f}", refresh=False)
        bar.update()
        if all(member.finished for member in members):
            break
        stop = deadline is not None and time.monotonic() >= deadline
        if ((epoch + 1) % every == 0 or stop) and epoch + 1 < config.epochs:
            for index, member in enumerate(members):
                if not member.finished:
                    epochs.write_back(index)
                    checkpoints.save_state(member.run_dir / "resume.npz", member.model, member.record)
            if stop:
                bar.close()
                return False
    bar.close()
    for index, member in enumerate(members):
        if not member.finished:
            epochs.write_back(index)
            _finish(member, data, len(members))
    return True


def _finish(member, data, batch_runs):
    """Save the run's weights and history as `runs.fit_cached` does; the batch is in its provenance."""
    record, config = member.record, member.config
    member.run_dir.mkdir(parents=True, exist_ok=True)
    member.model.save_weights(member.run_dir / "final.weights.h5")
    started = datetime.datetime.fromtimestamp(record.pop("start"), datetime.timezone.utc)
    ended = datetime.datetime.now(datetime.timezone.utc)
    provenance = runs.provenance(started, ended, data.files, config.session.profile)
    files.write_json(member.path, {
        **record,
        "config": config.as_dict(),
        "key": member.key,
        "final": {name: values[-1] for name, values in record["metrics"].items()},
        "wall_time_s": sum(record["epoch_time_s"]),
        "provenance": provenance | {"batched_runs": batch_runs},
    })
    (member.run_dir / "resume.npz").unlink(missing_ok=True)
    member.finished = True


class BatchedEpochs:
    """Trains compiled `models` of one shape an epoch per call, as one program (JAX backend only).

    The stacked variables stay on the device between calls; `write_back`
    copies one run's into its model (for its resume state and final weights).

    Args:
        models: compiled Keras models with equal variable shapes.
        data: an object with `x_train`, `y_train`, `x_test`, `y_test` arrays.
        batch_size: mini-batch size.
    """

    def __init__(self, models, data, batch_size):
        import jax
        import jax.numpy as jnp

        from lib.core.device_epochs import DeviceEpochs

        for model in models:
            model.optimizer.build(model.trainable_variables)
        shapes = {tuple(tuple(variable.shape) for variable in _variables(model)) for model in models}
        if len(shapes) != 1:
            raise ValueError(f"BatchedEpochs needs models of one shape. Received {len(shapes)} different sets of "
                             "variable shapes. Expected runs whose configs differ only in seed (batched.groups).")
        self.models = models
        # The first model's steps, traced with each run's variables.
        self.single = DeviceEpochs(models[0], data, batch_size)
        # A tuple of three lists, the carry `DeviceEpochs`'s scan takes.
        self.state = tuple([jnp.stack(values) for values in zip(*(_values(part) for part in parts))]
                           for parts in zip(*(_parts(model) for model in models)))
        self._train_steps = jax.jit(jax.vmap(self.single._train_steps_fn, in_axes=(0, None, None, None, 0)))
        self._test = jax.jit(jax.vmap(self.single._test_fn, in_axes=(0, None, None, None)))

    def __call__(self, orders):
        """Train run i on the batches of `orders[i]`, then test every run.

        Returns:
            One dict per run: the metrics `runs._train_epoch` returns for it.
        """
        orders = np.stack(orders)
        runs_count, count = orders.shape
        size, single = self.single.batch_size, self.single
        full = count // size * size
        parts = []
        if full:
            self.state, logs = self._train_steps(self.state, single.fresh_metrics, *single.train,
                                                 orders[:, :full].reshape(runs_count, -1, size))
            parts.append((logs, size))
        if full < count:
            self.state, logs = self._train_steps(self.state, single.fresh_metrics, *single.train, orders[:, None, full:])
            parts.append((logs, count - full))
        tested = {name: np.asarray(value) for name, value in self._test(self.state[:2], single.fresh_metrics, *single.test).items()}
        parts = [({name: np.asarray(values, np.float64) for name, values in logs.items()}, weight) for logs, weight in parts]
        # Batch means weighted by batch size, summed on the host in float64 as DeviceEpochs sums them.
        return [{name: sum(float(np.sum(logs[name][run])) * weight for logs, weight in parts) / count for name in parts[0][0]}
                | {f"test_{name}": float(values[run]) for name, values in tested.items()}
                for run in range(runs_count)]

    def write_back(self, index):
        """Copy run `index`'s current variables from the device into its model."""
        for variables, values in zip(_parts(self.models[index]), self.state):
            for variable, value in zip(variables, values):
                variable.assign(value[index])


def _parts(model):
    # The three lists of variables `model.train_step` takes, in its order.
    return model.trainable_variables, model.non_trainable_variables, model.optimizer.variables


def _variables(model):
    return [variable for part in _parts(model) for variable in part]


def _values(variables):
    return [variable.value for variable in variables]
