"""Training histories: reading and checking them, and summaries over epochs and seeds.

A history file holds `config`, `metrics` (one list per metric, as Keras's
`History.history` gives them, with `val_` renamed `test_` because our
validation data is the test set), `epoch`, `epoch_time_s`, `final`,
`wall_time_s` (the sum of the epoch times), `status` ("complete", or
"diverged" with `diverged_at_epoch` when a metric, usually the training loss,
stopped being finite) and `provenance`.
"""

import json
import math
from pathlib import Path

import numpy as np

REQUIRED_FIELDS = ("config", "metrics", "epoch", "epoch_time_s", "final", "wall_time_s", "status", "provenance")
METRICS = ("loss", "accuracy", "test_loss", "test_accuracy")  # what the notebooks read
STATUSES = ("complete", "diverged")


def read_history(path):
    """Read a history file and check that it holds everything the notebooks read.

    Every field, the four `METRICS` with one number per epoch, finite except
    in the last epoch of a diverged run, and `final` holding each metric's
    last value.

    Raises:
        ValueError: the file is not JSON or any of the above fails; the
            message names the file.
    """
    path = Path(path)
    try:
        history = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"History file {path} is not valid JSON ({error}).") from None
    if not isinstance(history, dict):
        raise ValueError(f"History file {path} holds a {type(history).__name__}, expected a JSON object.")
    missing = [field for field in REQUIRED_FIELDS if field not in history]
    if missing:
        raise ValueError(f"History file {path} lacks the fields {missing}.")
    if history["status"] not in STATUSES:
        raise ValueError(f"History file {path} has status {history['status']!r}; expected one of {STATUSES}.")
    epochs = history["epoch"]
    if not isinstance(epochs, list) or epochs != list(range(1, len(epochs) + 1)) or not epochs:
        raise ValueError(f"History file {path} has epochs {str(epochs)[:80]}; expected 1, 2, ..., N.")
    for field in ("config", "metrics", "final", "provenance"):
        if not isinstance(history[field], dict):
            raise ValueError(f"History file {path} has {field} of type {type(history[field]).__name__}; expected a JSON object.")
    missing = [metric for metric in METRICS if metric not in history["metrics"]]
    if missing:
        raise ValueError(f"History file {path} lacks the metrics {missing}; expected all of {METRICS}.")
    series = {"epoch_time_s": history["epoch_time_s"]} | history["metrics"]
    for name, values in series.items():
        if not isinstance(values, list) or len(values) != len(epochs):
            raise ValueError(f"History file {path}: {name} does not have one value per epoch ({len(epochs)}).")
        # A diverged run stops at the epoch whose metrics stopped being finite.
        may_diverge = name != "epoch_time_s" and history["status"] == "diverged"
        for epoch, value in zip(epochs, values):
            _check_number(path, f"{name} at epoch {epoch}", value, finite=not (may_diverge and epoch == epochs[-1]))
    _check_number(path, "wall_time_s", history["wall_time_s"])
    for metric in METRICS:
        last = history["metrics"][metric][-1]
        if metric not in history["final"]:
            raise ValueError(f"History file {path}: final lacks {metric}; expected {last!r}, its value at the last epoch.")
        final = history["final"][metric]
        if not (_is_number(final) and (final == last or math.isnan(final) and math.isnan(last))):
            raise ValueError(f"History file {path}: final {metric} is {final!r}; expected {last!r}, its value at the last epoch.")
    return history


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_number(path, name, value, finite=True):
    if not _is_number(value):
        raise ValueError(f"History file {path}: {name} is {value!r}; expected a number.")
    if finite and not math.isfinite(value):
        raise ValueError(f"History file {path}: {name} is {value}; expected a finite number "
                         f"(only the last epoch of a diverged run may be NaN or infinite).")


def late_mean(values, fraction=0.2):
    """Mean of the last `fraction` of `values` (at least one value).

    Study A picks models on the mean test accuracy over the last 20% of
    epochs because the final epoch's value fluctuates.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"Invalid value for `fraction`. Received: fraction={fraction!r}. Expected 0 < fraction <= 1.")
    values = list(values)
    if not values:
        raise ValueError("Cannot take the late mean of an empty list.")
    count = max(1, math.ceil(len(values) * fraction))
    return float(np.mean(values[-count:]))


def summarize(history, fraction=0.2):
    """Headline numbers of one run for tables.

    Returns:
        dict with final/late-mean/best test accuracy, best epoch (1-based),
        final test loss, epochs and wall time.
    """
    accuracy = history["metrics"]["test_accuracy"]
    best = int(np.argmax(accuracy))
    return {
        "test_accuracy_final": accuracy[-1],
        "test_accuracy_late_mean": late_mean(accuracy, fraction),
        "test_accuracy_best": accuracy[best],
        "best_epoch": history["epoch"][best],
        "test_loss_final": history["metrics"]["test_loss"][-1],
        "epochs": len(accuracy),
        "wall_time_s": history["wall_time_s"],
        "diverged": float(history["status"] == "diverged"),
    }


def metric_at(history, metric, epoch):
    """Value of `metric` after `epoch` (1-based), or None if the run was shorter."""
    if epoch not in history["epoch"]:
        return None
    return history["metrics"][metric][history["epoch"].index(epoch)]


def _spread(values):
    # Sample standard deviation across seeds; 0 for a single seed.
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def seed_summary(histories, fraction=0.2):
    """Mean and spread over seeds of each `summarize` field.

    Args:
        histories: histories of one configuration under different seeds.

    Returns:
        dict field -> {"mean": ..., "std": ..., "n": number of seeds}; std is
        the sample standard deviation (0 for one seed).
    """
    if not histories:
        raise ValueError("seed_summary needs at least one history.")
    rows = [summarize(h, fraction) for h in histories]
    return {
        field: {"mean": float(np.mean([row[field] for row in rows])), "std": _spread([row[field] for row in rows]), "n": len(rows)}
        for field in rows[0]
    }


def mean_curve(histories, metric):
    """Per-epoch mean and sample std of `metric` over the seeds of one configuration.

    A diverged run stops early; its missing epochs count as absent, not as
    values. Runs that are complete must all have the same length.

    Returns:
        (epochs, mean, std) as numpy arrays.
    """
    lengths = {len(h["epoch"]) for h in histories if h["status"] == "complete"}
    if len(lengths) > 1:
        raise ValueError(f"Histories have different lengths {sorted(lengths)}; expected equal epochs.")
    longest = max(len(h["epoch"]) for h in histories)
    values = np.full((len(histories), longest), np.nan)
    for row, h in zip(values, histories):
        row[: len(h["epoch"])] = h["metrics"][metric]
    present = np.isfinite(values).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=0) / present
        deviation = np.nansum((values - mean) ** 2, axis=0) / np.maximum(present - 1, 1)
    mean[present == 0] = np.nan
    return np.arange(1, longest + 1), mean, np.sqrt(deviation)


def pick_best(summaries, field):
    """Label whose mean `field` is largest (the first one on ties).

    Args:
        summaries: dict label -> `seed_summary` result.
        field: e.g. "test_accuracy_late_mean".
    """
    return max(summaries, key=lambda label: summaries[label][field]["mean"])


def summary_table(summaries, fields=("test_accuracy_final", "test_accuracy_late_mean", "test_accuracy_best", "best_epoch", "wall_time_s")):
    """A table of `seed_summary` results: one row per label, "mean ± std" cells.

    Returns:
        pandas DataFrame indexed by label.
    """
    import pandas as pd

    def cell(stats, field):
        digits = 0 if field in ("best_epoch", "wall_time_s") else 4
        text = f"{stats['mean']:.{digits}f}"
        return text + (f" ± {stats['std']:.{digits}f}" if stats["n"] > 1 else "")

    rows = {label: {field: cell(stats[field], field) for field in fields} for label, stats in summaries.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame["seeds"] = [stats[fields[0]]["n"] for stats in summaries.values()]
    if any(stats["diverged"]["mean"] for stats in summaries.values()):
        frame["diverged"] = [
            f"{round(stats['diverged']['mean'] * stats['diverged']['n'])} of {stats['diverged']['n']} seeds" if stats["diverged"]["mean"] else ""
            for stats in summaries.values()
        ]
    return frame
