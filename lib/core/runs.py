"""Runs: training with a cache, resume states and provenance.

A run is a `config.RunConfig`. Its key (`run_key`), a hash of the config, of
the code that trains it and of the data files, names
`histories/<study>/<key>.json`. `fit_cached` trains a run only when no
complete history exists for that key, and, unless `$RETRAIN` is "1", no
reference run ships for its settings (lib/core/reference.py).
"""

import ast
import concurrent.futures
import dataclasses
import datetime
import errno
import functools
import hashlib
import inspect
import json
import math
import os
import platform
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import tqdm

from lib import files, machine, paths
from lib.core import backend, checkpoints, data, history, models, pool, reference
from lib.core.config import AUTO, RunConfig, Session, model_factory, resolve_profile
from lib.core.backend import keras

def setup(profile=AUTO, data_dir=None):
    """Prepare a notebook or script for runs; call once, before building configs.

    Resolves and checks the profile and `$RETRAIN` (lib/core/reference.py)
    and makes training deterministic (TensorFlow op determinism, PyTorch
    deterministic algorithms, XLA's deterministic GPU ops).

    Args:
        profile: one of `lib.core.config.PROFILE_NAMES`, or "auto" (the
            default): "full" where a GPU is found, else "quick", as
            `make all` chooses; it prints which and why.
        data_dir: data directory; `None` or "" uses `$DATA_DIR` or `data/`.

    Returns:
        A `Session`, whose `profile` is the resolved one; the config builders
        of lib/studies take it.
    """
    profile, reason = resolve_profile(profile)
    if reason:
        print(f"Profile {profile} (auto): {reason}.")
    reference.retrain()  # a bad $RETRAIN fails here, before any run
    session = Session(profile, paths.data_dir(data_dir))
    backend.make_deterministic()
    return session


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished run: its config, history and files.

    Attributes:
        history_path: its history; for a reference run, where the reader's own would be (there is none).
        weights_path: its weights; for a reference run, the shipped file or None.
        reference: for a reference run (lib/core/reference.py), the provenance of
            the bundle it comes from; None for a run of the reader's own.
    """

    config: RunConfig
    history: dict
    history_path: object
    weights_path: object
    reference: dict = None

    def load_model(self):
        """The trained model, rebuilt by the factory (in the run's precision) with the saved weights.

        A reference run's model holds the layers its bundle ships (`reference.load_model`).
        """
        if self.reference is not None:
            return reference.load_model(self)
        if not self.weights_path.is_file():
            raise FileNotFoundError(
                f"Weights of run {self.history_path.stem} not found at {self.weights_path}. "
                f"Delete {self.history_path} to train the run again."
            )
        model = _build_model(self.config)
        model.load_weights(self.weights_path)
        return model


def history_path(config, key=None):
    """Where the history of `config` lives (`key`: its `config.key()`, if already computed)."""
    return paths.history_dir() / config.study / f"{key or config.key()}.json"


def checkpoint_every():
    """Epochs between resume states: `$CHECKPOINT_EVERY`, else 10."""
    value = os.environ.get("CHECKPOINT_EVERY") or "10"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"Invalid value for CHECKPOINT_EVERY. Received: {value!r}. Expected a positive integer.")
    return int(value)


def fit_cached(config, progress=True):
    """Train `config` unless a finished history for its key already exists.

    A run killed part-way resumes from its last resume state (see
    `checkpoint_every`); two processes asked for the same run train it once;
    a broken history file is reported, moved aside and the run redone. Where
    the history or the checkpoints cannot be written, it fails before
    training rather than after. Without a finished history of its own, a run
    whose reference run ships (lib/core/reference.py) is not trained: the
    reference is returned, unless `$RETRAIN` is "1".

    Args:
        config: a `RunConfig`.
        progress: print a line every ~5% of epochs with the ETA.

    Returns:
        A `Run`.
    """
    _check_session(config)
    key = config.key()
    path = history_path(config, key)
    run_dir = paths.checkpoint_dir() / config.study / key
    name = run_label(config)
    cached = _finished_history(config, path)
    shipped = None if cached is not None else _reference_run(config, key)
    if shipped is not None:
        if progress:
            print(f"[{name}] reference run: {shipped.reference['bundle']}", flush=True)
            reference.announce(shipped.reference)
        return shipped
    if cached is None:
        _check_writable(path, run_dir)
        with checkpoints.run_lock(run_dir.with_suffix(".lock"), name, progress):
            cached = _finished_history(config, path)  # another process may have just finished it
            if cached is None:
                files.write_json(path, _train(config, key, run_dir, progress))
                cached = history.read_history(path)
                (run_dir / "resume.npz").unlink(missing_ok=True)
                return Run(config, cached, path, run_dir / "final.weights.h5")
    if progress:
        print(f"[{name}] cached: {path.relative_to(paths.ROOT) if path.is_relative_to(paths.ROOT) else path.name}")
    return Run(config, cached, path, run_dir / "final.weights.h5")


def fit_many(configs, jobs=1, progress=True, threads=None):
    """Train several configs, `jobs` at a time (`pool.Pool`: worker processes, or Ray tasks when `$RAY_ADDRESS` is set).

    Runs already cached, or whose reference run ships (see `fit_cached`),
    are not trained; a config listed twice trains once.
    Under JAX on a GPU (or with `$BATCH_RUNS=1`) runs that differ only in
    seed train together as one compiled program instead (lib/core/batched.py).

    Args:
        configs: iterable of `RunConfig`.
        jobs: runs trained at once; 1 (without `$RAY_ADDRESS`) trains in this process.
        progress: print each finished run (and, in this process, epoch progress).
        threads: CPU threads of each worker process (see `pool.Pool`).

    Returns:
        list of `Run`, in the order of `configs`.
    """
    configs = list(configs)
    todo, shipped = {}, {}
    for config in configs:
        key = config.key()
        if key not in shipped and _finished_history(config, history_path(config, key)) is None:
            found = _reference_run(config, key)
            if found is None:
                todo.setdefault(key, config)
            else:
                shipped[key] = found
    if progress:
        references = sum(config.key() in shipped for config in configs)
        print(f"{len(configs)} runs: {len(configs) - len(todo) - references} cached, "
              + (f"{references} from the reference run, " if references else "") + f"{len(todo)} to train (jobs={jobs})", flush=True)
        for provenance in {found.reference["bundle"]: found.reference for found in shipped.values()}.values():
            reference.announce(provenance)
    if not todo:  # no batches, no workers
        return [fit_cached(config, progress=False) for config in configs]
    from lib.core import batched  # it imports this module

    if batched.wanted():
        batched.fit_pending(list(todo.values()), progress)
        return [fit_cached(config, progress=False) for config in configs]
    if not pool.uses_workers(jobs):
        return [fit_cached(config, progress=progress and config.key() in todo) for config in configs]
    with pool.Pool(jobs, threads) as workers:
        futures = [workers.submit(config) for config in todo.values()]
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            run = future.result()
            if progress:
                accuracy = run.history["final"]["test_accuracy"]
                print(f"[{done}/{len(futures)} trained] {run.history_path.stem} {run.config.model_kwargs} "
                      f"test accuracy {accuracy:.4f} in {run.history['wall_time_s']:.0f} s", flush=True)
    return [fit_cached(config, progress=False) for config in configs]


def fit_groups(groups, jobs=1, progress=True):
    """`fit_many` over labelled groups of configs (say, one group of seeds per cell).

    Args:
        groups: dict label -> list of `RunConfig`.

    Returns:
        dict label -> list of `Run`, in the same order.
    """
    flat = [config for configs in groups.values() for config in configs]
    done = iter(fit_many(flat, jobs=jobs, progress=progress))
    return {label: [next(done) for _ in configs] for label, configs in groups.items()}


def _reference_run(config, key):
    """The reference run of `config` as a `Run` (its run key `key`), or None: none ships, or `$RETRAIN` is "1"."""
    found = None if reference.retrain() else reference.find(config)
    if found is None:
        return None
    return Run(config, found.history, history_path(config, key), found.weights_path, found.provenance)


def _check_session(run_config):
    if run_config.session is None:
        raise ValueError("This RunConfig has no session: build it with a session from runs.setup(profile, data_dir), "
                         "e.g. study_a.config(session, ...).")


def _check_writable(path, run_dir):
    # Create each folder and a file in it, as training will at its end: a
    # location that is a file, read-only or immutable fails now, not after
    # every epoch has run.
    places = ((path.parent, f"the history {path}", f"HISTORY_DIR ({paths.history_dir()})"),
              (run_dir, f"the checkpoints in {run_dir}", f"CHECKPOINT_DIR ({paths.checkpoint_dir()})"))
    for folder, what, variable in places:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
            os.close(descriptor)
            os.unlink(probe)
        except OSError as error:
            raise OSError(error.errno, f"Cannot write {what}: {error.strerror or error} ({error.filename}). "
                                       f"Expected {variable} to be a writable folder.") from error
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"Cannot write the history {path}: it is a directory. "
                                              f"Expected a file or nothing there; remove the directory to train this run.")


def _finished_history(config, path):
    """The history at `path` if it is finished (complete or diverged) for `config`, else None.

    A file that is not a valid history of `config` is moved aside with a
    warning naming it, so the run is redone rather than trusted.
    """
    if not path.is_file():
        return None
    try:
        found = history.read_history(path)
        if found["config"] != config.as_dict():
            raise ValueError(f"History file {path} belongs to another configuration: {found['config']}.")
    except ValueError as error:
        aside = path.with_name(f"{path.stem}.broken-{int(time.time())}{path.suffix}")
        os.replace(path, aside)
        print(f"warning: {error} Moved it to {aside}; the run will be redone.", file=sys.stderr)
        return None
    if found["status"] == "diverged" or (found["status"] == "complete" and len(found["epoch"]) == config.epochs):
        return found
    return None


def _epoch_order(seed, epoch, size):
    # The shuffle of each epoch depends on (seed, epoch) alone, so a resumed
    # run sees the same batches as an uninterrupted one.
    return np.random.default_rng([seed, epoch]).permutation(size)


def _train(config, key, run_dir, progress):
    data = load_data(config)
    for subset, labels in (("training", data.y_train), ("test", data.y_test)):
        if len(labels) == 0:
            raise ValueError(f"Data set {config.data!r} with data_kwargs={config.data_kwargs} has no {subset} examples "
                             f"(data directory {config.session.data_dir}). Expected at least one.")
    keras.utils.set_random_seed(config.seed)
    model = _build_model(config)
    model.compile(
        optimizer=models.make_optimizer(config.optimizer, config.lr, config.momentum, config.clipvalue),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    record = checkpoints.load_state(run_dir / "resume.npz", model)
    if record is None:
        record = {"metrics": {}, "epoch": [], "epoch_time_s": [], "start": time.time(), "status": "complete"}
    elif progress:
        print(f"[{run_label(config)}] resuming after epoch {len(record['epoch'])} of {config.epochs}", flush=True)
    every, bar = checkpoint_every(), _progress_bar(run_label(config), config.epochs, len(record["epoch"]), progress)
    train_epoch = _epoch_trainer(model, data, config.batch_size)
    for epoch in range(len(record["epoch"]), config.epochs):
        began = time.perf_counter()
        metrics = train_epoch(_epoch_order(config.seed, epoch, len(data.y_train)))
        diverged = record_epoch(config, record, epoch, metrics, time.perf_counter() - began)
        bar.set_postfix_str(" ".join(f"{name} {values[-1]:.4f}" for name, values in sorted(record["metrics"].items())), refresh=False)
        bar.update()
        if diverged:
            break
        if (epoch + 1) % every == 0 and epoch + 1 < config.epochs:
            checkpoints.save_state(run_dir / "resume.npz", model, record)
    bar.close()
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save_weights(run_dir / "final.weights.h5")
    started = datetime.datetime.fromtimestamp(record.pop("start"), datetime.timezone.utc)
    ended = datetime.datetime.now(datetime.timezone.utc)
    return {
        **record,
        "config": config.as_dict(),
        "key": key,
        "final": {name: values[-1] for name, values in record["metrics"].items()},
        "wall_time_s": sum(record["epoch_time_s"]),
        "provenance": provenance(started, ended, data.files, config.session.profile),
    }


def record_epoch(config, record, epoch, metrics, seconds):
    """Add epoch `epoch`'s (0-based) metrics and time to `record`; True when the run diverged there.

    Any metric counts, not only the training loss: weights broken by an
    epoch's last batch show first in the test loss. A diverged record says
    so (`status`, `diverged_at_epoch`) and the reason is printed.
    """
    record["epoch_time_s"].append(seconds)
    record["epoch"].append(epoch + 1)
    for metric, value in metrics.items():
        record["metrics"].setdefault(metric, []).append(value)
    broken = [name for name in sorted(metrics, key=lambda name: name != "loss") if not math.isfinite(metrics[name])]
    if not broken:
        return False
    record.update(status="diverged", diverged_at_epoch=epoch + 1)
    what = "the training loss" if broken[0] == "loss" else broken[0]
    print(f"[{run_label(config)}] diverged: {what} is {metrics[broken[0]]} after epoch {epoch + 1}; stopping this run.",
          file=sys.stderr, flush=True)
    return True


def _epoch_trainer(model, data, batch_size):
    # On a GPU under JAX, whole compiled epochs on data kept on the device
    # (lib/device_epochs.py); elsewhere the batch loop (under JAX on a CPU the
    # compiled epochs measured 5x slower, bench/README.md).
    if keras.backend.backend() == "jax" and backend.has_gpu():
        from lib.core.device_epochs import DeviceEpochs

        return DeviceEpochs(model, data, batch_size)
    return functools.partial(_train_epoch, model, data, batch_size=batch_size)


# Test batches of 1,024 (or the training batch, if larger): the same metrics
# up to float rounding, in fewer steps: MNIST epochs 8-22% shorter
# (bench/recurrent.py).
EVAL_BATCH_SIZE = 1024


def _train_epoch(model, data, order, batch_size):
    """Train one epoch on the batches of `order`, then test: the metrics `fit` would log (test_ for val_).

    A `train_on_batch` loop rather than a `fit` call per epoch: it skips
    `fit`'s per-call set-up (a data adapter over the epoch's arrays), and
    its epochs were faster than `fit`'s in median, not in their best case
    (bench/q1_epoch.py). Epoch metrics are batch means weighted by batch
    size, as `fit`'s running means are.
    """
    if len(order) == 0:
        raise ValueError("Invalid value for `order`. Received: an empty order. Expected the indices of at least one training example.")
    totals = {}
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        logs = model.train_on_batch(data.x_train[batch], data.y_train[batch], return_dict=True)
        for name, value in logs.items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(batch)
    tested = model.evaluate(data.x_test, data.y_test, batch_size=max(batch_size, EVAL_BATCH_SIZE), verbose=0, return_dict=True)
    return {name: total / len(order) for name, total in totals.items()} | {f"test_{k}": float(v) for k, v in tested.items()}


def _build_model(config):
    # The dtype policy is global in Keras: set it for this model's layers only.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        return model_factory(config.model)(**config.model_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)


# Shown otherwise (study, model, seed), alike within a notebook (data, data_kwargs), or in the bar (epochs).
_UNLABELLED = {"study", "model", "seed", "data", "data_kwargs", "epochs", "model_kwargs", "session"}
# Model arguments that follow from the data, alike within a notebook too.
_DATA_SHAPES = {"num_classes", "vocabulary_size", "length", "input_shape"}


def run_label(config):
    """`config` in a few words, which tell the runs of a notebook apart where the key would not.

    Study, model, its model arguments, the other settings not at their
    defaults and the seed, e.g. "a cifar_cnn c1=50 c2=80 seed 0" or
    "b char_rnn cell=lstm num_layers=1 adam lr=0.01 seed 0". Model arguments
    that are off (0, False, None) or follow from the data (`_DATA_SHAPES`)
    are left out.
    """
    shown = [f"{name}={value}" for name, value in config.model_kwargs.items()
             if name not in _DATA_SHAPES and value not in (0, False, None)]
    for field in dataclasses.fields(RunConfig):
        value = getattr(config, field.name)
        if field.name not in _UNLABELLED and value != field.default:
            shown.append(value if field.name == "optimizer" else f"{field.name}={value}")
    return " ".join([config.study, config.model, *shown, f"seed {config.seed}"])


def _progress_bar(name, epochs, done, shown):
    # Metrics, the time per epoch (a moving average, so the first, compiling
    # epoch fades out) and the ETA, on one line that updates in place. The
    # runner's console recognises the start, "[name] epoch n/N |"
    # (lib/runner/execute.py, _Console.BAR), and shows one line per run.
    # A kernel's output keeps every update as a line of the report: about
    # 20 per run (`miniters`), not one per epoch.
    return tqdm.tqdm(total=epochs, initial=done, disable=not shown, file=sys.stdout, mininterval=1.0, ascii=True,
                     miniters=max(1, epochs // 20),
                     desc=name, unit="epoch", bar_format="[{desc}] epoch {n_fmt}/{total_fmt} |{bar:20}| {rate_inv_fmt}, "
                                                         "ETA {remaining}{postfix}")


def provenance(started, ended, data_files=None, profile=None):
    """Where and how a run ran: versions, backend, device, git state, times."""
    name = keras.backend.backend()
    return {
        "profile": profile,
        "keras": keras.__version__,
        "backend": name,
        "backend_version": getattr(sys.modules.get(name), "__version__", None),  # the module is named as the backend
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": backend.device_description(),
        "threads": backend.threads(),
        "git": machine.git_state(),
        "data_files": data_files or {},
        "start": started.isoformat(timespec="seconds"),
        "end": ended.isoformat(timespec="seconds"),
    }


def run_key(config):
    """16 hex digits naming a run: its config, training code, Keras version and backend, and data files."""
    _check_session(config)
    payload = {
        "config": config.as_dict(),
        "code": _code_fingerprint(config),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "data_files": _data_fingerprint(config),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _code_fingerprint(config, every_backend=False):
    # The functions whose change changes what a run computes; with
    # `every_backend`, those of every backend (a reference run's key).
    code = (_train, record_epoch, _epoch_trainer, _train_epoch, _build_model, _epoch_order, models.make_optimizer,
            *data.SOURCES[config.data].code)
    sources = [inspect.getsource(function) for function in code] + model_code(model_factory(config.model))
    if every_backend or keras.backend.backend() == "jax":  # its GPU runs train with lib/core/device_epochs.py
        sources.append(Path(__file__).with_name("device_epochs.py").read_text())  # its source: importing it needs JAX
    # Syntax trees, not text: a comment or docstring edit keeps every run's key.
    return hashlib.sha256("\n".join(map(_canonical, sources)).encode()).hexdigest()


@functools.lru_cache(maxsize=512)
def _canonical(source):
    # Keyed by the source text, so an edit misses the cache: keys are computed
    # for every config, several times, and parsing is most of their cost.
    return ast.dump(_syntax_tree(source))


def _syntax_tree(source):
    """The syntax tree of a function's, class's or module's source, without its docstrings (comments are not in it)."""
    tree = ast.parse(textwrap.dedent(source))
    documented = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
    for node in ast.walk(tree):
        if isinstance(node, documented) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    return tree


def model_code(factory):
    """Source of `factory` and of every function and class of lib/core/models.py its code uses, directly or not."""
    found, todo = {}, [factory]
    while todo:
        item = todo.pop()
        if item.__name__ in found:
            continue
        found[item.__name__] = inspect.getsource(item)
        for name in {node.id for node in ast.walk(_syntax_tree(found[item.__name__])) if isinstance(node, ast.Name)}:
            value = vars(models).get(name)
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == models.__name__:
                todo.append(value)
    return [found[name] for name in sorted(found)]


def _data_fingerprint(config):
    found = data.SOURCES[config.data].files(config.session.data_dir, **config.data_kwargs)
    return {name: _file_digest(str(path), path.stat().st_size, path.stat().st_mtime_ns) for name, path in found.items()}


@functools.lru_cache(maxsize=64)
def _file_digest(path, size, mtime_ns):
    return files.sha256(path)


def load_data(config):
    """The arrays `config` trains on (loaded once per process)."""
    _check_session(config)
    return data.load(config.data, config.data_kwargs, config.session.data_dir)
