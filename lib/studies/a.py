"""Study A's runs (CIFAR-10 CNN), defined once for its notebooks Q1-Q4.

Every question builds its configs here, so equal settings give equal configs
and therefore shared cached runs (Q1's 50/60 run is the grid's 50/60 cell).
"""

import itertools
import json

import numpy as np

from lib import files, paths
from lib.core import history
from lib.core.config import RunConfig, profile_settings
from lib.studies import curves, reproduction

# Scale per profile: smoke runs in seconds for tests, quick gives meaningful
# numbers on a CPU in minutes, full is the study as published (for a GPU).
# "a" is Q1, Q3 and Q4's scale, "a_grid" Q2's 25 runs, "a_full_data" the
# extra run on all five training batches; `seeds` is how many seeds Q2-Q4
# train per configuration.
_TRIM = {"train_per_class": None, "test_per_class": 200}  # data_batch_1, the course's test_batch_trim
_TINY = {"train_per_class": 20, "test_per_class": 10}
PROFILES = {
    "smoke": {
        "a": {"epochs": 2, "seeds": 1, "data_kwargs": _TINY},
        "a_grid": {"epochs": 2, "seeds": 1, "data_kwargs": _TINY},
        "a_full_data": {"epochs": 2, "seeds": 1, "data_kwargs": {**_TINY, "train_batches": 5}},
    },
    "quick": {
        "a": {"epochs": 50, "seeds": 1, "data_kwargs": _TRIM},
        "a_grid": {"epochs": 10, "seeds": 1, "data_kwargs": _TRIM},  # 25 runs
        "a_full_data": {"epochs": 10, "seeds": 1, "data_kwargs": {**_TRIM, "train_batches": 5}},  # 5x the images
    },
    "full": {
        "a": {"epochs": 1000, "seeds": 3, "data_kwargs": _TRIM},
        "a_grid": {"epochs": 1000, "seeds": 3, "data_kwargs": _TRIM},
        "a_full_data": {"epochs": 1000, "seeds": 1, "data_kwargs": {**_TRIM, "train_batches": 5}},
    },
}
# Hours each notebook needs under the full profile on a 2-core CPU
# (TensorFlow backend): its runs x 1000 epochs x the 4.7-4.9 s per epoch
# measured on such a machine (Q4 only reads Q1-Q3's runs).
CPU_HOURS = {
    "a_q1_cnn": 1.3,  # 1 run
    "a_q2_grid": 101.0,  # 25 cells x 3 seeds
    "a_q3_variants": 15.7,  # 4 variants x 3 seeds
    "a_q4_compare": 0.0,
    "a_x_full_data": 6.5,  # 1 run on 5x the images
}
# Said in the discussion where a published number does not reproduce (reproduction.describe).
LIKELY_REASONS = ("our CIFAR-10 copy where it is not the course's files (a JPEG re-encoded copy has other pixels and "
                  "other images: each report's files line says which), and one seed per setting on each side, which "
                  "moves the early epochs by a few points (Q2 measures both).")
C1_CHANNELS = (10, 30, 50, 70, 90)
C2_CHANNELS = (20, 40, 60, 80, 100)
LR = 0.001
BATCH_SIZE = 128

# The pair the published Q3 used (the author's Q2 pick): its curves compare
# like with like only against runs of this pair.
PUBLISHED_PAIR = (90, 40)
# Q3's variants of the Q1 training, keyword arguments of `config`.
VARIANTS = {
    "momentum": {"optimizer": "sgd", "momentum": 0.1},
    "rmsprop": {"optimizer": "rmsprop"},
    "adam": {"optimizer": "adam"},
    "dropout": {"optimizer": "sgd", "dropout": 0.5},
}


def config(session, c1=50, c2=60, optimizer="sgd", momentum=0.0, dropout=0.0, seed=0, epochs=None, scale="a"):
    """The `RunConfig` of one Study A run (Q1's settings unless told otherwise).

    Args:
        session: what `runs.setup` returned (profile and data directory).
        c1, c2: channels of the two convolutions.
        optimizer, momentum: see `lib.core.models.make_optimizer`.
        dropout: dropout after flatten and after F3 (0 adds none).
        seed: random seed.
        epochs: overrides the profile's epochs.
        scale: "a", or "a_grid" for the 25-run grid.
    """
    settings = profile_settings(PROFILES, session.profile, scale, epochs)
    model_kwargs = {"c1": c1, "c2": c2, **({"dropout": dropout} if dropout else {})}
    return RunConfig(
        session=session, study="a", model="cifar_cnn", data="cifar10", epochs=settings["epochs"],
        model_kwargs=model_kwargs, data_kwargs=settings["data_kwargs"],
        optimizer=optimizer, lr=LR, momentum=momentum, batch_size=BATCH_SIZE, seed=seed,
    )


def seed_list(session, seed=0, seeds=None, scale="a"):
    """`seeds` consecutive seeds from `seed` (the profile's count if `seeds` is None)."""
    count = profile_settings(PROFILES, session.profile, scale, seeds=seeds)["seeds"]
    return list(range(seed, seed + count))


def grid_configs(session, seeds, epochs=None):
    """Q2: {(c1, c2): [RunConfig per seed]} over the 5x5 channel grid."""
    return {
        (c1, c2): [config(session, c1, c2, seed=seed, epochs=epochs, scale="a_grid") for seed in seeds]
        for c1, c2 in itertools.product(C1_CHANNELS, C2_CHANNELS)
    }


# The published curve of each Q3 variant (lib/studies/curves.py).
VARIANT_CURVES = {"momentum": "2a/q3_model_90_40_SGD-momentum", "rmsprop": "2a/q3_model_90_40_RMSProp",
                  "adam": "2a/q3_model_90_40_Adam", "dropout": "2a/q3_model_90_40_SGD_dropout"}


def grid_curve(c1, c2):
    """The published curve of the grid cell c1/c2."""
    return f"2a/q2_model_{c1}_{c2}"


def q3_channels(profile, pair="published"):
    """Q3's channels: the published pair (`PUBLISHED_PAIR`), or "ours", the pair our Q2 picked under `profile`."""
    if pair == "published":
        return PUBLISHED_PAIR
    if pair == "ours":
        best = read_best_channels(profile)
        return best["c1"], best["c2"]
    raise ValueError(f"Invalid value for `pair`. Received: pair={pair!r}. Expected 'published' or 'ours'.")


def variant_configs(session, c1, c2, seeds, epochs=None):
    """Q3: {variant: [RunConfig per seed]} with the given channels."""
    return {name: [config(session, c1, c2, seed=seed, epochs=epochs, **kwargs) for seed in seeds]
            for name, kwargs in VARIANTS.items()}


def best_channels_path(profile):
    """Where Q2 writes the channels it picked, for Q3 and Q4 to read."""
    return paths.history_dir() / "a" / f"q2_best_{profile}.json"


def write_best_channels(profile, best):
    files.write_json(best_channels_path(profile), best)


def read_best_channels(profile):
    """The channels Q2 picked under `profile`.

    Raises:
        FileNotFoundError: Q2 has not run under this profile.
    """
    path = best_channels_path(profile)
    if not path.is_file():
        raise FileNotFoundError(
            f"No Q2 result at {path}: run the grid first (make all ONLY=a_q2_grid PROFILE={profile})."
        )
    return json.loads(path.read_text())


def grid_table(summaries, field):
    """Q2's 5x5 table of the mean `field` (rows C1, columns C2) with row and column means.

    Args:
        summaries: dict (c1, c2) -> `history.seed_summary` result.
        field: e.g. "test_accuracy_late_mean".
    """
    import pandas as pd

    frame = pd.DataFrame(
        [[summaries[(c1, c2)][field]["mean"] for c2 in C2_CHANNELS] for c1 in C1_CHANNELS],
        index=pd.Index(C1_CHANNELS, name="C1"),
        columns=pd.Index(C2_CHANNELS, name="C2"),
    )
    frame["mean"] = frame.mean(axis=1)
    frame.loc["mean"] = frame.mean(axis=0)
    return frame


def all_models(session, seeds, epochs=None, pair="published"):
    """Q4: every model of Q1-Q3 as {label: [RunConfig per seed]}.

    Q2's entry is the grid cell Q2 picked, trained as in the grid; Q3's
    are the variants at `q3_channels(profile, pair)`, as Q3 trained them.
    """
    best = read_best_channels(session.profile)
    models = {"Q1 SGD 50/60": [config(session, seed=seed, epochs=epochs) for seed in seeds]}
    grid_cell = (best["c1"], best["c2"])
    models[f"Q2 best {grid_cell[0]}/{grid_cell[1]}"] = grid_configs(session, seeds, epochs)[grid_cell]
    for name, configs in variant_configs(session, *q3_channels(session.profile, pair), seeds, epochs).items():
        models[f"Q3 {name}"] = configs
    return models


def published_for(label):
    """(question, metric) of the published number that matches a Q4 label."""
    if label.startswith("Q1"):
        return "a_q1", "test_accuracy_final"
    if label.startswith("Q2"):
        return "a_q2", "test_accuracy_late_mean_best"
    return "a_q3", f"{label.split()[1]}_test_accuracy_final"


def discussion(histories):
    """A few sentences on which model wins early and late and where overfitting starts.

    Args:
        histories: dict label -> list of histories (seeds).

    Returns:
        Markdown text; every number in it is computed from `histories`.
    """
    curves = {label: history.mean_curve(group, "test_accuracy") for label, group in histories.items()}
    losses = {label: history.mean_curve(group, "test_loss") for label, group in histories.items()}
    longest = max(len(epochs) for epochs, _, _ in curves.values())
    early = max(1, round(0.1 * longest))
    at_early = {label: mean[early - 1] for label, (epochs, mean, _) in curves.items() if len(epochs) >= early}
    late = {label: history.late_mean(mean) for label, (_, mean, _) in curves.items()}
    lines = [
        f"Early (epoch {early}), the best test accuracy is {max(at_early.values()):.4f}, by {max(at_early, key=at_early.get)}; "
        f"late (mean over the last 20% of epochs) it is {max(late.values()):.4f}, by {max(late, key=late.get)}."
    ]
    for label, (epochs, mean, _) in losses.items():
        lowest = int(np.argmin(mean))
        if lowest < len(mean) - 1 and mean[-1] > mean[lowest] * 1.02:
            lines.append(
                f"{label}: the test loss is lowest at epoch {epochs[lowest]} ({mean[lowest]:.3f}) and rises to "
                f"{mean[-1]:.3f} by epoch {epochs[-1]}: it overfits from about epoch {epochs[lowest]}."
            )
        else:
            lines.append(f"{label}: the test loss is still at or near its lowest at epoch {epochs[-1]} (no overfitting yet).")
    return "\n\n".join(lines)


def early_gaps(histories, epoch):
    """Q2: each cell's test accuracy at `epoch` beside its published run's, both averaged over the epochs around it.

    Args:
        histories: dict (c1, c2) -> list of histories (seeds).
        epoch: the epoch to compare at.

    Returns:
        pandas DataFrame indexed by (C1, C2): ours (mean over seeds), published, difference.
    """
    import pandas as pd

    rows = {}
    for (c1, c2), group in histories.items():
        theirs = curves.curve(grid_curve(c1, c2))
        span = reproduction.window(epoch, min(epoch, theirs.epochs))
        ours = np.mean([np.mean([h["metrics"]["test_accuracy"][e - 1] for e in span]) for h in group])
        published_value = np.mean([theirs.metrics["test_accuracy"][e - 1] for e in span])
        rows[(c1, c2)] = {"ours": ours, "published": published_value, "difference": ours - published_value}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.names = ["C1", "C2"]
    return frame


def seed_spread(histories, epoch):
    """Standard deviation over seeds of the test accuracy around `epoch` (the same window as `early_gaps`)."""
    span = reproduction.window(epoch, epoch)
    return float(np.std([np.mean([h["metrics"]["test_accuracy"][e - 1] for e in span]) for h in histories], ddof=1))


def published_repeat_gap(epoch):
    """How far apart two published runs of the same settings are around `epoch`: Q1's and Q2's 50/60 runs."""
    span = reproduction.window(epoch, epoch)
    q1, q2 = (curves.curve(name).metrics["test_accuracy"] for name in ("2a/q1_model_50_60", grid_curve(50, 60)))
    return float(np.mean([q1[e - 1] for e in span]) - np.mean([q2[e - 1] for e in span]))

