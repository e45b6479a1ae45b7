"""Runs: profiles, configs, seeding, training with a cache, provenance.

A run is a `RunConfig`. Its key, a hash of the config, of the code that trains
it and of the data files, names `histories/<study>/<key>.json`. `fit_cached`
trains a run only when no complete history exists for that key.
"""

import dataclasses
import datetime
import functools
import hashlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time

import keras
import numpy as np

from lib import datasets, history, models, paths

PROFILE_NAMES = ("smoke", "quick", "full")

# Scale per profile and study, one code path: smoke runs in seconds for tests,
# quick gives meaningful numbers on a CPU in minutes, full is the study as
# published (for a GPU).
PROFILES = {
    "smoke": {"a": {"epochs": 2, "data_kwargs": {"train_per_class": 20, "test_per_class": 10}}},
    "quick": {"a": {"epochs": 50, "data_kwargs": {"train_per_class": None, "test_per_class": 200}}},
    "full": {"a": {"epochs": 1000, "data_kwargs": {"train_per_class": None, "test_per_class": 200}}},
}

MODELS = {"cifar_cnn": models.build_cifar_cnn}

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
    _check_choice("profile", profile, PROFILE_NAMES)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    _session.update(profile=profile, data_dir=paths.data_dir(data_dir))
    return _session["data_dir"]


def profile_settings(profile, study, epochs=None):
    """Epochs and data subset of `study` under `profile`.

    Args:
        profile: one of `PROFILE_NAMES`.
        study: study letter, e.g. "a".
        epochs: overrides the profile's epochs when given.

    Returns:
        dict with `epochs` and `data_kwargs`, ready to pass to `RunConfig`.
    """
    _check_choice("profile", profile, PROFILE_NAMES)
    _check_choice("study", study, tuple(PROFILES[profile]))
    settings = json.loads(json.dumps(PROFILES[profile][study]))  # a deep copy
    if epochs is not None:
        _check_positive_int("epochs", epochs)
        settings["epochs"] = epochs
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
        batch_size: mini-batch size.
        seed: random seed for weights and shuffling.
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
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self):
        _check_choice("model", self.model, tuple(MODELS))
        _check_choice("data", self.data, tuple(datasets.SOURCES))
        _check_choice("optimizer", self.optimizer, models.OPTIMIZERS)
        _check_positive_int("epochs", self.epochs)
        _check_positive_int("batch_size", self.batch_size)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"Invalid value for `seed`. Received: seed={self.seed!r}. Expected a non-negative integer.")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"Invalid value for `lr`. Received: lr={self.lr!r}. Expected a positive number.")
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
            "data_files": _data_fingerprint(self.data),
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
        """The trained model, rebuilt by the factory with the saved weights."""
        if not self.weights_path.is_file():
            raise FileNotFoundError(
                f"Weights of run {self.history_path.stem} not found at {self.weights_path}. "
                f"Delete {self.history_path} to train the run again."
            )
        model = MODELS[self.config.model](**self.config.model_kwargs)
        model.load_weights(self.weights_path)
        return model


def history_path(config):
    return paths.history_dir() / config.study / f"{config.key()}.json"


def fit_cached(config, progress=True):
    """Train `config` unless a complete history for its key already exists.

    Args:
        config: a `RunConfig`.
        progress: print a line every ~5% of epochs with the ETA.

    Returns:
        A `Run`.
    """
    if _session["profile"] is None:
        raise RuntimeError("Call runs.setup(profile, data_dir) before runs.fit_cached(...).")
    key = config.key()
    path = paths.history_dir() / config.study / f"{key}.json"
    weights = paths.checkpoint_dir() / config.study / key / "final.weights.h5"
    if path.is_file():
        cached = history.read_history(path)
        if cached["status"] == "complete" and len(cached["epoch"]) == config.epochs:
            if progress:
                print(f"[{config.study}/{key}] cached: {path}")
            return Run(config, cached, path, weights)
    result = _train(config, key, weights, progress)
    history.write_json(path, result)
    return Run(config, result, path, weights)


def _train(config, key, weights_path, progress):
    data = load_data(config)
    keras.utils.set_random_seed(config.seed)
    model = MODELS[config.model](**config.model_kwargs)
    model.compile(
        optimizer=models.make_optimizer(config.optimizer, config.lr, config.momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    timer = _EpochTimer()
    callbacks = [timer] + ([_Progress(f"{config.study}/{key}", config.epochs)] if progress else [])
    started = datetime.datetime.now(datetime.timezone.utc)
    fitted = model.fit(
        data.x_train,
        data.y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(data.x_test, data.y_test),
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    ended = datetime.datetime.now(datetime.timezone.utc)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(weights_path)
    metrics = {name.replace("val_", "test_"): [float(v) for v in values] for name, values in fitted.history.items()}
    return {
        "config": config.as_dict(),
        "key": key,
        "metrics": metrics,
        "epoch": [epoch + 1 for epoch in fitted.epoch],
        "epoch_time_s": timer.times,
        "final": {name: values[-1] for name, values in metrics.items()},
        "wall_time_s": (ended - started).total_seconds(),
        "status": "complete",
        "provenance": provenance(started, ended, data.files),
    }


@functools.lru_cache(maxsize=4)
def _load_data(name, data_kwargs_json, data_dir):
    return datasets.SOURCES[name].load(data_dir=data_dir, **json.loads(data_kwargs_json))


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


class _Progress(keras.callbacks.Callback):
    """One line about every 5% of epochs: metrics, seconds per epoch, ETA."""

    def __init__(self, name, epochs):
        super().__init__()
        self.name, self.epochs = name, epochs
        self.every = max(1, epochs // 20)

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done not in (1, self.epochs):
            return
        per_epoch = (time.perf_counter() - self._start) / done
        eta = datetime.timedelta(seconds=round(per_epoch * (self.epochs - done)))
        values = " ".join(f"{k.replace('val_', 'test_')} {v:.4f}" for k, v in sorted((logs or {}).items()))
        print(f"[{self.name}] epoch {done}/{self.epochs} {values} | {per_epoch:.2f} s/epoch, ETA {eta}", flush=True)


def provenance(started, ended, data_files=None):
    """Where and how a run ran: versions, backend, device, git state, times."""
    backend = keras.backend.backend()
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    return {
        "profile": _session["profile"],
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": getattr(sys.modules.get(backend_module), "__version__", None),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device_description(),
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


@functools.lru_cache(maxsize=1)
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
    code = (MODELS[config.model], _train, models.make_optimizer, *datasets.SOURCES[config.data].code)
    return hashlib.sha256("".join(inspect.getsource(function) for function in code).encode()).hexdigest()


def _data_fingerprint(name):
    files = datasets.SOURCES[name].files(_session["data_dir"])
    return {file: _file_digest(str(path), path.stat().st_size, path.stat().st_mtime_ns) for file, path in files.items()}


@functools.lru_cache(maxsize=64)
def _file_digest(path, size, mtime_ns):
    return datasets._sha256(path)


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"Unknown {name}: {value!r}. Expected one of {tuple(allowed)}.")


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected a positive integer.")


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
