"""Study E's random searches: the CIFAR-10 CNN (Q1) and the Shakespeare word model (Q2).

The search spaces are the published ones. A trial's sampled values map to a
`RunConfig` here, so equal values always give the same cached run.
"""

import math

import pandas as pd

from lib import checks, datasets, runs, search

# Q1: the CNN's search space (optimizer names as `lib.models.OPTIMIZERS`;
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
        profile: one of `runs.PROFILE_NAMES`.
        question: "e1" (CNN) or "e2" (language model).
        epochs: overrides the profile's epochs per trial when given.
        trials: overrides the profile's number of trials when given.

    Returns:
        dict with `trials`, `epochs`, `seeds` and `data_kwargs`.
    """
    found = runs.profile_settings(profile, question, epochs)
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


def cnn_config(profile, values, seed=0, epochs=None):
    """The `RunConfig` of one Q1 trial with sampled `values` (a dict over `CNN_SPACE`)."""
    _check_values(values, CNN_SPACE)
    found = settings(profile, "e1", epochs)
    return runs.RunConfig(
        study="e", model="search_cnn", data="cifar10_search", epochs=found["epochs"],
        model_kwargs={name: value for name, value in values.items() if name not in _TRAINING},
        data_kwargs=found["data_kwargs"], optimizer=values["optimizer"], lr=values["lr"],
        batch_size=values["batch_size"], seed=seed,
    )


def vocabulary(profile):
    """The Q2 vocabulary (words of the training split) under `profile`."""
    data_kwargs = settings(profile, "e2")["data_kwargs"]
    return datasets.load_shakespeare_words(runs._session["data_dir"], **data_kwargs).vocabulary


def lm_config(profile, values, vocabulary_size, seed=0, epochs=None):
    """The `RunConfig` of one Q2 trial with sampled `values` (a dict over `LM_SPACE`)."""
    _check_values(values, LM_SPACE)
    found = settings(profile, "e2", epochs)
    model_kwargs = {name: value for name, value in values.items() if name not in _TRAINING}
    return runs.RunConfig(
        study="e", model="word_lm", data="shakespeare_words", epochs=found["epochs"],
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


def cnn_tuner(profile, seed=0, trials=None, epochs=None):
    """Q1's KerasTuner random search (a `search.CachedRandomSearch`)."""
    def make_config(values):
        return cnn_config(profile, values, seed, epochs)

    example = make_config({name: values[0] for name, values in CNN_SPACE.items()})
    return search.CachedRandomSearch(
        CNN_SPACE, make_config, ("validation_accuracy", "max"), validation_accuracy,
        max_trials=settings(profile, "e1", epochs, trials)["trials"], seed=seed,
        project=search.project_name(f"e1_{profile}", CNN_SPACE, seed, example),
    )


def lm_tuner(profile, vocabulary_size, seed=0, trials=None, epochs=None):
    """Q2's KerasTuner random search (a `search.CachedRandomSearch`)."""
    def make_config(values):
        return lm_config(profile, values, vocabulary_size, seed, epochs)

    example = make_config({name: values[0] for name, values in LM_SPACE.items()})
    return search.CachedRandomSearch(
        LM_SPACE, make_config, ("validation_perplexity", "min"), validation_perplexity,
        max_trials=settings(profile, "e2", epochs, trials)["trials"], seed=seed,
        project=search.project_name(f"e2_{profile}", LM_SPACE, seed, example),
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
