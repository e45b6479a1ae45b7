"""Runs: profiles, configs, seeding, training with a cache, provenance.

A run is a `RunConfig`. Its key, a hash of the config, of the code that trains
it and of the data files, names `histories/<study>/<key>.json`. `fit_cached`
trains a run only when no complete history exists for that key.
"""

import concurrent.futures
import dataclasses
import datetime
import functools
import hashlib
import inspect
import json
import math
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time

import keras
import numpy as np

from lib import checkpoints, checks, datasets, history, models, paths

PROFILE_NAMES = ("smoke", "quick", "full")

# Scale per profile and study (a key per study, or per question where one
# question's many runs need their own scale), one code path: smoke runs in
# seconds for tests, quick gives meaningful numbers on a CPU in minutes, full
# is the study as published (for a GPU). `seeds` is how many seeds a question
# that averages over seeds trains per configuration. `axes` (Studies C and D)
# cuts a grid's axes to the values given, so that smoke tests stay seconds;
# an axis not named keeps all its values. `attack_images` is how many test
# digits Study D's attacks use.
_CIFAR_TRIM = {"train_per_class": None, "test_per_class": 200}
# Study B: the CNNs (about 1 s per epoch on a 2-core CPU) get more quick
# epochs than the RNNs (5-8 s per epoch); full is the course's 250 epochs.
_DBPEDIA_SMOKE = {"train_per_class": 5, "test_per_class": 2}
_CIFAR_GRAY = {"train_per_class": None, "test_per_class": 100}  # Study C: 1,000 / 100 per class
_MNIST_ALL = {"train_per_class": None, "test_per_class": None}
_MNIST_TINY = {"train_per_class": 20, "test_per_class": 10}
# Study E: searches (`trials` runs of `epochs` each) validate on held-out
# training images or words and test the best trial once.
_E1_FULL = {"train_per_class": None, "validation_per_class": 500, "test_per_class": None, "train_batches": 5}
_E2_SMOKE = {"sequence_length": 8, "vocabulary_size": 200, "train_words": 2000, "heldout_words": 400}
PROFILES = {
    "smoke": {
        "a": {"epochs": 2, "seeds": 1, "data_kwargs": {"train_per_class": 20, "test_per_class": 10}},
        "a_grid": {"epochs": 2, "seeds": 1, "data_kwargs": {"train_per_class": 20, "test_per_class": 10}},
        "a_full_data": {"epochs": 2, "seeds": 1, "data_kwargs": {"train_per_class": 20, "test_per_class": 10, "train_batches": 5}},
        "b_cnn": {"epochs": 2, "seeds": 1, "data_kwargs": _DBPEDIA_SMOKE},
        "b_rnn": {"epochs": 2, "seeds": 1, "data_kwargs": _DBPEDIA_SMOKE},
        "c_cnn": {"epochs": 1, "seeds": 1, "data_kwargs": {"train_per_class": 20, "test_per_class": 10}},
        "c_rnn": {"epochs": 1, "seeds": 1, "data_kwargs": _MNIST_TINY},
        "c_rnn_grid": {"epochs": 1, "seeds": 1, "data_kwargs": _MNIST_TINY, "axes": {"num_layers": [2], "units": [16], "lr": [0.01]}},
        # D2's 128-unit runs are D1's batch-128 runs: 10 runs in all.
        "d_rnn": {"epochs": 1, "seeds": 1, "data_kwargs": _MNIST_TINY, "attack_images": 10,
                  "axes": {"lr": [0.001, 0.1], "batch_size": [32, 128], "units": [128, 512], "lstm_units": [100]}},
        "e1": {"epochs": 1, "seeds": 1, "trials": 3, "data_kwargs": {"train_per_class": 10, "validation_per_class": 5, "test_per_class": 5}},
        "e2": {"epochs": 1, "seeds": 1, "trials": 3, "data_kwargs": _E2_SMOKE},
    },
    "quick": {
        "a": {"epochs": 50, "seeds": 1, "data_kwargs": _CIFAR_TRIM},
        "a_grid": {"epochs": 10, "seeds": 1, "data_kwargs": _CIFAR_TRIM},  # 25 runs
        "a_full_data": {"epochs": 10, "seeds": 1, "data_kwargs": {**_CIFAR_TRIM, "train_batches": 5}},  # 5x the images
        "b_cnn": {"epochs": 40, "seeds": 1, "data_kwargs": {}},
        "b_rnn": {"epochs": 20, "seeds": 1, "data_kwargs": {}},
        "c_cnn": {"epochs": 10, "seeds": 1, "data_kwargs": _CIFAR_GRAY},
        "c_rnn": {"epochs": 10, "seeds": 1, "data_kwargs": _MNIST_ALL},  # as published: SimpleRNNs are cheap
        "c_rnn_grid": {"epochs": 3, "seeds": 1, "data_kwargs": _MNIST_ALL},  # 16 LSTM/GRU runs
        "d_rnn": {"epochs": 5, "seeds": 1, "data_kwargs": _MNIST_ALL, "attack_images": 1000},  # as published
        # data_batch_1 (9,000 train, 1,000 validation), all 10,000 test images
        "e1": {"epochs": 3, "seeds": 1, "trials": 10, "data_kwargs": {"train_per_class": None, "validation_per_class": 100, "test_per_class": None}},
        "e2": {"epochs": 5, "seeds": 1, "trials": 8, "data_kwargs": {"sequence_length": 32, "vocabulary_size": 3000}},
    },
    "full": {
        "a": {"epochs": 1000, "seeds": 3, "data_kwargs": _CIFAR_TRIM},
        "a_grid": {"epochs": 1000, "seeds": 3, "data_kwargs": _CIFAR_TRIM},
        "a_full_data": {"epochs": 1000, "seeds": 1, "data_kwargs": {**_CIFAR_TRIM, "train_batches": 5}},
        "b_cnn": {"epochs": 250, "seeds": 1, "data_kwargs": {}},
        "b_rnn": {"epochs": 250, "seeds": 1, "data_kwargs": {}},
        "c_cnn": {"epochs": 30, "seeds": 1, "data_kwargs": _CIFAR_GRAY},
        "c_rnn": {"epochs": 10, "seeds": 1, "data_kwargs": _MNIST_ALL},
        "c_rnn_grid": {"epochs": 10, "seeds": 1, "data_kwargs": _MNIST_ALL},
        "d_rnn": {"epochs": 5, "seeds": 1, "data_kwargs": _MNIST_ALL, "attack_images": 10000},
        "e1": {"epochs": 10, "seeds": 1, "trials": 30, "data_kwargs": _E1_FULL},  # full CIFAR-10
        "e2": {"epochs": 10, "seeds": 1, "trials": 30, "data_kwargs": {"sequence_length": 32, "vocabulary_size": None}},
    },
}

MODELS = {
    "cifar_cnn": models.build_cifar_cnn,
    "char_cnn": models.build_char_cnn,
    "word_cnn": models.build_word_cnn,
    "char_rnn": models.build_char_rnn,
    "word_rnn": models.build_word_rnn,
    "image_cnn": models.build_image_cnn,
    "sequence_rnn": models.build_sequence_rnn,
    "search_cnn": models.build_search_cnn,
    "word_lm": models.build_word_lm,
}

# Keras dtype policies a run may compute with (`RunConfig.precision`).
PRECISIONS = ("float32", "mixed_bfloat16")

_session = {"profile": None, "data_dir": None}


def setup(profile="full", data_dir=None):
    """Prepare a notebook or script for runs; call once, before `fit_cached`.

    Checks the profile, makes training deterministic (TensorFlow op
    determinism, PyTorch deterministic algorithms) and remembers the profile
    and data directory for the histories' provenance.

    Args:
        profile: one of `PROFILE_NAMES`. Defaults to "full".
        data_dir: data directory; `None` or "" uses `$DATA_DIR` or `data/`.

    Returns:
        The resolved data directory (a `Path`).
    """
    checks.choice("profile", profile, PROFILE_NAMES)
    _make_deterministic()
    _session.update(profile=profile, data_dir=paths.data_dir(data_dir))
    return _session["data_dir"]


def profile_settings(profile, scale, epochs=None, seeds=None):
    """Epochs, seed count and data subset of a study (or question) under `profile`.

    Args:
        profile: one of `PROFILE_NAMES`.
        scale: a key of `PROFILES[profile]`, e.g. "a" or "a_grid".
        epochs: overrides the profile's epochs when given.
        seeds: overrides the profile's number of seeds when given.

    Returns:
        dict with `epochs`, `seeds` and `data_kwargs`.
    """
    checks.choice("profile", profile, PROFILE_NAMES)
    checks.choice("study", scale, tuple(PROFILES[profile]))
    settings = json.loads(json.dumps(PROFILES[profile][scale]))  # a deep copy
    for name, value in (("epochs", epochs), ("seeds", seeds)):
        if value is not None:
            checks.positive_int(name, value)
            settings[name] = value
    return settings


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run.

    Attributes:
        study: study letter, e.g. "a"; histories are grouped by it.
        model: a key of `MODELS`, e.g. "cifar_cnn".
        data: a key of `datasets.SOURCES`, e.g. "cifar10".
        epochs: number of training epochs.
        model_kwargs: keyword arguments of the model factory.
        data_kwargs: keyword arguments of the data loader (the subset).
        optimizer: one of `models.OPTIMIZERS`.
        lr: learning rate.
        momentum: SGD momentum.
        clipnorm: gradient clipping norm; 0 does not clip.
        batch_size: mini-batch size.
        seed: random seed for weights and shuffling.
        precision: one of `PRECISIONS`. "float32" (the default) computes
            as published; "mixed_bfloat16" keeps float32 weights but
            computes layers in bfloat16, faster on CPUs with AVX512_BF16 or
            AMX and on recent GPUs, slower elsewhere (bench/README.md).
    """

    study: str
    model: str
    data: str
    epochs: int
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    data_kwargs: dict = dataclasses.field(default_factory=dict)
    optimizer: str = "sgd"
    lr: float = 0.001
    momentum: float = 0.0
    clipnorm: float = 0.0
    batch_size: int = 128
    seed: int = 0
    precision: str = "float32"

    def __post_init__(self):
        checks.choice("model", self.model, tuple(MODELS))
        checks.choice("precision", self.precision, PRECISIONS)
        checks.choice("data", self.data, tuple(datasets.SOURCES))
        checks.choice("optimizer", self.optimizer, models.OPTIMIZERS)
        checks.positive_int("epochs", self.epochs)
        checks.positive_int("batch_size", self.batch_size)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"Invalid value for `seed`. Received: seed={self.seed!r}. Expected a non-negative integer.")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"Invalid value for `lr`. Received: lr={self.lr!r}. Expected a positive number.")
        if not isinstance(self.clipnorm, (int, float)) or isinstance(self.clipnorm, bool) or self.clipnorm < 0:
            raise ValueError(f"Invalid value for `clipnorm`. Received: clipnorm={self.clipnorm!r}. "
                             "Expected a non-negative number (0: no clipping).")
        _check_kwargs("model_kwargs", self.model_kwargs, MODELS[self.model])
        _check_kwargs("data_kwargs", self.data_kwargs, datasets.SOURCES[self.data].load)

    def as_dict(self):
        return dataclasses.asdict(self)

    def key(self):
        """16 hex digits naming this run: config, training code, library and data."""
        payload = {
            "config": self.as_dict(),
            "code": _code_fingerprint(self),
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "data_files": _data_fingerprint(self.data, self.data_kwargs),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished run: its config, history and files."""

    config: RunConfig
    history: dict
    history_path: object
    weights_path: object

    def load_model(self):
        """The trained model, rebuilt by the factory (in the run's precision) with the saved weights."""
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
    a broken history file is reported, moved aside and the run redone.

    Args:
        config: a `RunConfig`.
        progress: print a line every ~5% of epochs with the ETA.

    Returns:
        A `Run`.
    """
    if _session["profile"] is None:
        raise RuntimeError("Call runs.setup(profile, data_dir) before runs.fit_cached(...).")
    key = config.key()
    path = history_path(config, key)
    run_dir = paths.checkpoint_dir() / config.study / key
    name = f"{config.study}/{key}"
    cached = _finished_history(config, path)
    if cached is None:
        with checkpoints.run_lock(run_dir.with_suffix(".lock"), name, progress):
            cached = _finished_history(config, path)  # another process may have just finished it
            if cached is None:
                history.write_json(path, _train(config, key, run_dir, progress))
                cached = history.read_history(path)
                (run_dir / "resume.npz").unlink(missing_ok=True)
                return Run(config, cached, path, run_dir / "final.weights.h5")
    if progress:
        print(f"[{name}] cached: {path}")
    return Run(config, cached, path, run_dir / "final.weights.h5")


def fit_many(configs, jobs=1, progress=True, threads=None):
    """Train several configs, `jobs` at a time in separate processes.

    Runs already cached are not retrained; a config listed twice trains once.

    Args:
        configs: iterable of `RunConfig`.
        jobs: number of concurrent worker processes; 1 trains in this process.
        progress: print each finished run (and, with jobs=1, epoch progress).
        threads: CPU threads of each worker. None (the default) gives each
            worker all the cores, as a run in this process has: the thread
            count decides the order of floating-point sums, so this keeps
            histories bit-identical whatever `jobs` is, and measured as fast
            as splitting the cores (bench/grid_jobs.py).

    Returns:
        list of `Run`, in the order of `configs`.
    """
    checks.positive_int("jobs", jobs)
    configs = list(configs)
    todo = {}
    for config in configs:
        if _finished_history(config, history_path(config)) is None:
            todo.setdefault(config.key(), config)
    if progress:
        print(f"{len(configs)} runs: {len(configs) - len(todo)} cached, {len(todo)} to train (jobs={jobs})", flush=True)
    if jobs == 1:
        return [fit_cached(config, progress=progress and config.key() in todo) for config in configs]
    threads = threads or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")  # a fork of a TensorFlow process can hang
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                                initargs=(dict(_session), threads)) as pool:
        futures = [pool.submit(fit_cached, config, False) for config in todo.values()]
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


def _start_worker(session, threads):
    # Runs before the worker's first operation, while thread pools can still be sized.
    _session.update(session)
    set_threads(threads)
    _make_deterministic()


def _make_deterministic():
    # Same inputs, same results, run after run (TensorFlow's, PyTorch's and XLA's GPU kernels may otherwise race).
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    elif backend == "jax" and "--xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
        # XLA reads its flags when JAX's first computation starts the backend.
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_gpu_deterministic_ops=true".strip()


def set_threads(threads):
    """Compute with `threads` CPU threads (TensorFlow, PyTorch); call before the first operation.

    JAX sizes its thread pool from `XLA_FLAGS` when it starts, so this leaves
    it as it is.

    Args:
        threads: a positive integer.
    """
    checks.positive_int("threads", threads)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)


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
    keras.utils.set_random_seed(config.seed)
    model = _build_model(config)
    model.compile(
        optimizer=models.make_optimizer(config.optimizer, config.lr, config.momentum, config.clipnorm),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    record = checkpoints.load_state(run_dir / "resume.npz", model)
    if record is None:
        record = {"metrics": {}, "epoch": [], "epoch_time_s": [], "start": time.time(), "status": "complete"}
    elif progress:
        print(f"[{config.study}/{key}] resuming after epoch {len(record['epoch'])} of {config.epochs}", flush=True)
    every, report = checkpoint_every(), _Progress(f"{config.study}/{key}", config.epochs, len(record["epoch"]))
    train_epoch = _epoch_trainer(model, data, config.batch_size)
    for epoch in range(len(record["epoch"]), config.epochs):
        began = time.perf_counter()
        metrics = train_epoch(_epoch_order(config.seed, epoch, len(data.y_train)))
        record["epoch_time_s"].append(time.perf_counter() - began)
        record["epoch"].append(epoch + 1)
        for metric, value in metrics.items():
            record["metrics"].setdefault(metric, []).append(value)
        if progress:
            report.epoch_end(epoch + 1, record["metrics"])
        if not math.isfinite(record["metrics"]["loss"][-1]):
            record.update(status="diverged", diverged_at_epoch=epoch + 1)
            print(f"[{config.study}/{key}] diverged: the training loss is {record['metrics']['loss'][-1]} "
                  f"after epoch {epoch + 1}; stopping this run.", file=sys.stderr, flush=True)
            break
        if (epoch + 1) % every == 0 and epoch + 1 < config.epochs:
            checkpoints.save_state(run_dir / "resume.npz", model, record)
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
        "provenance": provenance(started, ended, data.files),
    }


def _epoch_trainer(model, data, batch_size):
    # On a GPU under JAX, whole compiled epochs on data kept on the device
    # (lib/device_epochs.py); elsewhere the batch loop (under JAX on a CPU the
    # compiled epochs measured 5x slower, bench/README.md).
    if keras.backend.backend() == "jax" and has_gpu():
        from lib.device_epochs import DeviceEpochs

        return DeviceEpochs(model, data, batch_size)
    return functools.partial(_train_epoch, model, data, batch_size=batch_size)


def _train_epoch(model, data, order, batch_size):
    """Train one epoch on the batches of `order`, then test: the metrics `fit` would log (test_ for val_).

    A `train_on_batch` loop rather than a `fit` call per epoch: it skips
    `fit`'s per-call set-up (a data adapter over the epoch's arrays), and
    its epochs were faster than `fit`'s in median, not in their best case
    (bench/q1_epoch.py). Epoch metrics are batch means weighted by batch
    size, as `fit`'s running means are.
    """
    totals = {}
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        logs = model.train_on_batch(data.x_train[batch], data.y_train[batch], return_dict=True)
        for name, value in logs.items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(batch)
    tested = model.evaluate(data.x_test, data.y_test, batch_size=batch_size, verbose=0, return_dict=True)
    return {name: total / len(order) for name, total in totals.items()} | {f"test_{k}": float(v) for k, v in tested.items()}


def _build_model(config):
    # The dtype policy is global in Keras: set it for this model's layers only.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        return MODELS[config.model](**config.model_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)


@functools.lru_cache(maxsize=4)
def _load_data(name, data_kwargs_json, data_dir):
    return datasets.SOURCES[name].load(data_dir=data_dir, **json.loads(data_kwargs_json))


class _Progress:
    """One line about every 5% of epochs: metrics, seconds per epoch, ETA."""

    def __init__(self, name, epochs, done):
        self.name, self.epochs, self.first = name, epochs, done
        self.every = max(1, epochs // 20)
        self.start = time.perf_counter()

    def epoch_end(self, done, metrics):
        if done % self.every and done not in (self.first + 1, self.epochs):
            return
        per_epoch = (time.perf_counter() - self.start) / (done - self.first)
        eta = datetime.timedelta(seconds=round(per_epoch * (self.epochs - done)))
        values = " ".join(f"{name} {values[-1]:.4f}" for name, values in sorted(metrics.items()))
        print(f"[{self.name}] epoch {done}/{self.epochs} {values} | {per_epoch:.2f} s/epoch, ETA {eta}", flush=True)


def provenance(started, ended, data_files=None):
    """Where and how a run ran: versions, backend, device, git state, times."""
    backend = keras.backend.backend()
    return {
        "profile": _session["profile"],
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": getattr(sys.modules.get(backend), "__version__", None),  # the module is named as the backend
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device_description(),
        "threads": _threads(),
        "git": git_state(),
        "data_files": data_files or {},
        "start": started.isoformat(timespec="seconds"),
        "end": ended.isoformat(timespec="seconds"),
    }


def device_description():
    """'GPU: <name>' when the Keras backend sees a GPU, else 'CPU: <model> (N cores)'."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "GPU: " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            return f"GPU: {device.device_kind}"
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {_cpu_model()} ({os.cpu_count()} cores)"


def _threads():
    # CPU threads one run computes with; float results can differ in the last
    # digits between thread counts (summation order), never within one.
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    if keras.backend.backend() == "torch":
        import torch

        return torch.get_num_threads()
    return os.cpu_count()


def has_gpu():
    return device_description().startswith("GPU")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_state():
    """{'commit': sha or None, 'dirty': bool or None} of the repository."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True, timeout=10)

    try:
        commit = git("rev-parse", "HEAD")
        status = git("status", "--porcelain")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if commit.returncode:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _code_fingerprint(config):
    # The functions whose change changes what a run computes.
    code = (_train, _epoch_trainer, _train_epoch, _build_model, _epoch_order, models.make_optimizer,
            *datasets.SOURCES[config.data].code)
    sources = [inspect.getsource(function) for function in code] + model_code(MODELS[config.model])
    if keras.backend.backend() == "jax":  # its GPU runs train with lib/device_epochs.py
        from lib import device_epochs

        sources.append(inspect.getsource(device_epochs))
    return hashlib.sha256("".join(sources).encode()).hexdigest()


def model_code(factory):
    """Source of `factory` and of every function and class of lib/models.py it uses, directly or not."""
    found, todo = {}, [factory]
    while todo:
        item = todo.pop()
        if item.__name__ in found:
            continue
        found[item.__name__] = inspect.getsource(item)
        for name in set(re.findall(r"[A-Za-z_]\w*", found[item.__name__])):
            value = vars(models).get(name)
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == models.__name__:
                todo.append(value)
    return [found[name] for name in sorted(found)]


def _data_fingerprint(name, data_kwargs):
    files = datasets.SOURCES[name].files(_session["data_dir"], **data_kwargs)
    return {file: _file_digest(str(path), path.stat().st_size, path.stat().st_mtime_ns) for file, path in files.items()}


@functools.lru_cache(maxsize=64)
def _file_digest(path, size, mtime_ns):
    return datasets._sha256(path)


def _check_kwargs(name, kwargs, function):
    if not isinstance(kwargs, dict):
        raise TypeError(f"`{name}` must be a dict. Received: {type(kwargs).__name__}.")
    accepted = [p for p in inspect.signature(function).parameters if p != "data_dir"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"Unknown {name} for {function.__name__}: {unknown}. Expected some of {accepted}.")


def load_data(config):
    """The arrays `config` trains on (loaded once per process)."""
    return _load_data(config.data, json.dumps(config.data_kwargs, sort_keys=True), str(_session["data_dir"]))
