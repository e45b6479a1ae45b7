"""Study E's random searches: the CIFAR-10 CNN (Q1) and the Shakespeare word model (Q2).

The search spaces are the published ones. A trial's sampled values map to a
`RunConfig` here, so equal values always give the same cached run.
"""

import math

import pandas as pd

from lib import checks
from lib.core.config import RunConfig, profile_settings
from lib.core.data import text

# Scale per profile: searches (`trials` runs of `epochs` each) validate on
# held-out training images or words and test the best trial once.
PROFILES = {
    "smoke": {
        "e1": {"epochs": 1, "seeds": 1, "trials": 3, "data_kwargs": {"train_per_class": 10, "validation_per_class": 5, "test_per_class": 5}},
        "e2": {"epochs": 1, "seeds": 1, "trials": 3,
               "data_kwargs": {"sequence_length": 8, "vocabulary_size": 200, "train_words": 2000, "heldout_words": 400}},
    },
    "quick": {
        # data_batch_1 (9,000 train, 1,000 validation), all 10,000 test images
        "e1": {"epochs": 3, "seeds": 1, "trials": 10, "data_kwargs": {"train_per_class": None, "validation_per_class": 100, "test_per_class": None}},
        "e2": {"epochs": 5, "seeds": 1, "trials": 8, "data_kwargs": {"sequence_length": 32, "vocabulary_size": 3000}},
    },
    "full": {
        # full CIFAR-10
        "e1": {"epochs": 10, "seeds": 1, "trials": 30,
               "data_kwargs": {"train_per_class": None, "validation_per_class": 500, "test_per_class": None, "train_batches": 5}},
        "e2": {"epochs": 10, "seeds": 1, "trials": 30, "data_kwargs": {"sequence_length": 32, "vocabulary_size": None}},
    },
}
# The published searches' trial counts and epochs are not given, so only the
# full profile (our assumption of them) is compared.
CAVEATS = {"quick": "quick profile: 10 (E1) and 8 (E2) trials of 3 and 5 epochs, on data_batch_1 (E1) and a 3,000-word "
                    "vocabulary (E2), against our full profile's 30 trials of 10 epochs"}
# Hours each notebook needs under the full profile on a 2-core CPU: 30
# trials x 10 epochs. Measured on 2 cores (shared): CNN trials 3.5-26 s per
# epoch on 4,000 images, so ~110 s on average on 45,000; language-model
# trials 12-43 s per epoch with 3,000 words, ~3.6x the softmax work with the
# full ~11,000-word vocabulary: ~60 s on average.
CPU_HOURS = {"e_q1_cnn_search": 9.2, "e_q2_word_lm_search": 5.0}
# Said in the discussion where a published number does not reproduce (reproduction.describe).
LIKELY_REASONS = ("a random search samples different configurations each time (the published one is one draw), and "
                  "our full profile's trial count and epochs are our assumption; E2's perplexity also depends on the "
                  "vocabulary size.")

# Q1: the CNN's search space (optimizer names as `lib.core.config.OPTIMIZERS`;
# Glorot is Keras's glorot_uniform, He is he_normal).
CNN_SPACE = {
    "lr": (1e-4, 1e-3, 1e-2),
    "conv_layers": (2, 3, 4),
    "filters": (32, 64, 128),
    "batch_size": (16, 32, 64),
    "optimizer": ("adam", "sgd", "rmsprop"),
    "activation": ("relu", "tanh", "sigmoid"),
    "dropout": (0.0, 0.2, 0.4),
    "kernel_size": (3, 5),
    "strides": (1, 2),
    "initializer": ("glorot_uniform", "he_normal"),
}
# Q2: the language model's search space (Xavier is Glorot).
LM_SPACE = {
    "embedding_dim": (50, 100, 200),
    "hidden_units": (64, 128, 256),
    "num_layers": (1, 2),
    "lr": (1e-4, 1e-3, 1e-2),
    "batch_size": (32, 64, 128),
    "optimizer": ("adam", "sgd", "rmsprop"),
    "activation": ("relu", "tanh"),
    "dropout": (0.0, 0.2, 0.5),
    "initializer": ("glorot_uniform", "glorot_normal", "he_normal"),
}
_TRAINING = ("lr", "batch_size", "optimizer")  # the rest are model arguments


def settings(profile, question, epochs=None, trials=None):
    """Trials, epochs per trial and data subset of question "e1" or "e2" under `profile`.

    Args:
        profile: one of `lib.core.config.PROFILE_NAMES`.
        question: "e1" (CNN) or "e2" (language model).
        epochs: overrides the profile's epochs per trial when given.
        trials: overrides the profile's number of trials when given.

    Returns:
        dict with `trials`, `epochs`, `seeds` and `data_kwargs`.
    """
    found = profile_settings(PROFILES, profile, question, epochs)
    if trials is not None:
        checks.positive_int("trials", trials)
        found["trials"] = trials
    return found


def _check_values(values, space):
    unknown = sorted(set(values) ^ set(space))
    if unknown:
        raise ValueError(f"Hyperparameters {unknown} do not match the search space. Expected exactly {tuple(space)}.")
    for name, value in values.items():
        if value not in space[name]:
            raise ValueError(f"Unknown {name}: {value!r}. Expected one of {space[name]}.")


def cnn_config(session, values, seed=0, epochs=None):
    """The `RunConfig` of one Q1 trial with sampled `values` (a dict over `CNN_SPACE`)."""
    _check_values(values, CNN_SPACE)
    found = settings(session.profile, "e1", epochs)
    return RunConfig(
        session=session, study="e", model="search_cnn", data="cifar10_search", epochs=found["epochs"],
        model_kwargs={name: value for name, value in values.items() if name not in _TRAINING},
        data_kwargs=found["data_kwargs"], optimizer=values["optimizer"], lr=values["lr"],
        batch_size=values["batch_size"], seed=seed,
    )


def vocabulary(session):
    """The Q2 vocabulary (words of the training split) in `session`."""
    data_kwargs = settings(session.profile, "e2")["data_kwargs"]
    return text.load_shakespeare_words(session.data_dir, **data_kwargs).vocabulary


def lm_config(session, values, vocabulary_size, seed=0, epochs=None):
    """The `RunConfig` of one Q2 trial with sampled `values` (a dict over `LM_SPACE`)."""
    _check_values(values, LM_SPACE)
    found = settings(session.profile, "e2", epochs)
    model_kwargs = {name: value for name, value in values.items() if name not in _TRAINING}
    return RunConfig(
        session=session, study="e", model="word_lm", data="shakespeare_words", epochs=found["epochs"],
        model_kwargs={"vocabulary_size": vocabulary_size, **model_kwargs},
        data_kwargs=found["data_kwargs"], optimizer=values["optimizer"], lr=values["lr"],
        batch_size=values["batch_size"], seed=seed,
    )


def validation_accuracy(found):
    """Q1's objective: the final epoch's accuracy on the validation split (recorded as test_accuracy)."""
    return float(found["final"]["test_accuracy"])


def validation_perplexity(found):
    """Q2's objective: exp of the final validation cross-entropy per word; infinite for a diverged run."""
    loss = float(found["final"]["test_loss"])
    return math.exp(loss) if loss < 700 else math.inf  # NaN compares False: infinite too


def cnn_tuner(session, seed=0, trials=None, epochs=None):
    """Q1's KerasTuner random search (a `lib.core.search.CachedRandomSearch`)."""
    def make_config(values):
        return cnn_config(session, values, seed, epochs)

    return _tuner(session, "e1", CNN_SPACE, make_config, ("validation_accuracy", "max"), validation_accuracy, seed, trials, epochs)


def lm_tuner(session, vocabulary_size, seed=0, trials=None, epochs=None):
    """Q2's KerasTuner random search (a `lib.core.search.CachedRandomSearch`)."""
    def make_config(values):
        return lm_config(session, values, vocabulary_size, seed, epochs)

    return _tuner(session, "e2", LM_SPACE, make_config, ("validation_perplexity", "min"), validation_perplexity, seed, trials, epochs)


def _tuner(session, question, space, make_config, objective, score, seed, trials, epochs):
    from lib.core import search  # KerasTuner imports Keras; this module stays importable without it

    example = make_config({name: values[0] for name, values in space.items()})
    return search.CachedRandomSearch(
        space, make_config, objective, score,
        max_trials=settings(session.profile, question, epochs, trials)["trials"], seed=seed,
        project=search.project_name(f"{question}_{session.profile}", space, seed, example),
    )


def effect_sizes(table, space, metric, direction="max", cap=None):
    """How much each hyperparameter moves `metric`: the spread of its per-value means.

    Without `cap`, trials whose metric is not finite (diverged) are left
    out; with `cap`, every value above it (diverged ones too) counts as `cap`.

    Args:
        table: `search.CachedRandomSearch.trial_table()`.
        space: dict hyperparameter -> allowed values.
        metric: a column of `table`.
        direction: "max" if a larger `metric` is better, "min" if smaller is.
        cap: see above; for a perplexity, the vocabulary size (a uniform guess).

    Returns:
        pandas DataFrame indexed by hyperparameter, largest spread first:
        `spread` (largest minus smallest mean over its values), `best value`
        and `worst value` (by mean).
    """
    scores = table[metric].astype(float)
    scores = scores[scores.map(math.isfinite)] if cap is None else scores.fillna(math.inf).clip(upper=cap)
    rows = {}
    for name in space:
        means = scores.groupby(table[name]).mean().sort_values(ascending=direction == "min")
        rows[name] = {"spread": float(means.max() - means.min()), "best value": means.index[0], "worst value": means.index[-1]}
    return pd.DataFrame.from_dict(rows, orient="index").sort_values("spread", ascending=False)
