"""What determines a run: the session it runs in and its `RunConfig`.

Importing this module does not import Keras, so the study modules (which
build configs) can be read by the notebook runner; building a `RunConfig`
checks its model arguments against the model factory, which imports Keras
then.
"""

import dataclasses
import importlib
import inspect
import json
from pathlib import Path

from lib import checks, machine
from lib.core import data

PROFILE_NAMES = ("smoke", "quick", "full")
# Resolved by `resolve_profile` before anything runs: `make all`'s default and the notebooks'.
AUTO = "auto"
OPTIMIZERS = ("sgd", "rmsprop", "adam")
# Keras dtype policies a run may compute with (`RunConfig.precision`).
PRECISIONS = ("float32", "mixed_bfloat16")
# Model name -> factory in lib/core/models.py.
MODELS = {
    "cifar_cnn": "build_cifar_cnn",
    "char_cnn": "build_char_cnn",
    "word_cnn": "build_word_cnn",
    "char_rnn": "build_char_rnn",
    "word_rnn": "build_word_rnn",
    "image_cnn": "build_image_cnn",
    "sequence_rnn": "build_sequence_rnn",
    "search_cnn": "build_search_cnn",
    "word_lm": "build_word_lm",
}


@dataclasses.dataclass(frozen=True)
class Session:
    """The profile and data directory a notebook or script runs with (`runs.setup` makes one).

    Attributes:
        profile: one of `PROFILE_NAMES`.
        data_dir: the resolved data directory.
    """

    profile: str
    data_dir: Path

    def __post_init__(self):
        checks.choice("profile", self.profile, PROFILE_NAMES)


def resolve_profile(profile):
    """The profile to run for `profile`, and why: "auto" is "full" where `nvidia-smi` lists a GPU, else "quick".

    Args:
        profile: `AUTO` or one of `PROFILE_NAMES`.

    Returns:
        (profile, reason): one of `PROFILE_NAMES`, and for `AUTO` why it was
        chosen (None for a profile given by name).
    """
    checks.choice("profile", profile, (AUTO, *PROFILE_NAMES))
    if profile != AUTO:
        return profile, None
    gpus = machine.nvidia_gpus()
    if gpus:
        return "full", f"a GPU was found ({gpus[0]})"
    return "quick", f"no GPU was found ({machine.cpu_description()})"


def profile_settings(profiles, profile, scale, epochs=None, seeds=None):
    """Epochs, seed count and data subset of one scale of a study under `profile`.

    Args:
        profiles: a study's table, {profile: {scale: settings}}.
        profile: one of `PROFILE_NAMES`.
        scale: a key of `profiles[profile]`, e.g. "a" or "a_grid".
        epochs: overrides the profile's epochs when given.
        seeds: overrides the profile's number of seeds when given.

    Returns:
        dict with `epochs`, `seeds` and `data_kwargs` (a copy).
    """
    checks.choice("profile", profile, PROFILE_NAMES)
    checks.choice("study", scale, tuple(profiles[profile]))
    settings = json.loads(json.dumps(profiles[profile][scale]))  # a deep copy
    for name, value in (("epochs", epochs), ("seeds", seeds)):
        if value is not None:
            checks.positive_int(name, value)
            settings[name] = value
    return settings


def model_factory(name):
    """The function of lib/core/models.py that builds model `name` (imports Keras)."""
    checks.choice("model", name, tuple(MODELS))
    return getattr(importlib.import_module("lib.core.models"), MODELS[name])


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run.

    Attributes:
        study: study letter, e.g. "a"; histories are grouped by it.
        model: a key of `MODELS`, e.g. "cifar_cnn".
        data: a key of `lib.core.data.SOURCES`, e.g. "cifar10".
        epochs: number of training epochs.
        model_kwargs: keyword arguments of the model factory.
        data_kwargs: keyword arguments of the data loader (the subset).
        optimizer: one of `OPTIMIZERS`.
        lr: learning rate.
        momentum: SGD momentum.
        clipvalue: clip each gradient element to ±clipvalue; 0 does not clip.
        batch_size: mini-batch size.
        seed: random seed for weights and shuffling.
        precision: one of `PRECISIONS`. "float32" (the default) computes
            as published; "mixed_bfloat16" keeps float32 weights but
            computes layers in bfloat16, faster on CPUs with AVX512_BF16 or
            AMX and on recent GPUs, slower elsewhere (bench/README.md).
        session: the `Session` whose data directory the run reads; not part
            of the config's identity (`as_dict`), though its data files'
            digests are part of the run key.
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
    clipvalue: float = 0.0
    batch_size: int = 128
    seed: int = 0
    precision: str = "float32"
    session: Session = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self):
        checks.choice("model", self.model, tuple(MODELS))
        checks.choice("precision", self.precision, PRECISIONS)
        checks.choice("data", self.data, tuple(data.SOURCES))
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.positive_int("epochs", self.epochs)
        checks.positive_int("batch_size", self.batch_size)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"Invalid value for `seed`. Received: seed={self.seed!r}. Expected a non-negative integer.")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"Invalid value for `lr`. Received: lr={self.lr!r}. Expected a positive number.")
        if not isinstance(self.clipvalue, (int, float)) or isinstance(self.clipvalue, bool) or self.clipvalue < 0:
            raise ValueError(f"Invalid value for `clipvalue`. Received: clipvalue={self.clipvalue!r}. "
                             "Expected a non-negative number (0: no clipping).")
        if self.session is not None and not isinstance(self.session, Session):
            raise TypeError(f"`session` must be a Session (runs.setup returns one). Received: {type(self.session).__name__}.")
        _check_kwargs("model_kwargs", self.model_kwargs, model_factory(self.model))
        _check_kwargs("data_kwargs", self.data_kwargs, data.SOURCES[self.data].load)

    def as_dict(self):
        """The config's identity as a JSON-ready dict (the session left out)."""
        return {name: value for name, value in dataclasses.asdict(self).items() if name != "session"}

    def key(self):
        """16 hex digits naming this run: config, training code, library and data (`runs.run_key`)."""
        from lib.core import runs  # the key hashes the training code, which imports Keras

        return runs.run_key(self)


def _check_kwargs(name, kwargs, function):
    if not isinstance(kwargs, dict):
        raise TypeError(f"`{name}` must be a dict. Received: {type(kwargs).__name__}.")
    accepted = [p for p in inspect.signature(function).parameters if p != "data_dir"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"Unknown {name} for {function.__name__}: {unknown}. Expected some of {accepted}.")
