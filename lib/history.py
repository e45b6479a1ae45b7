"""Training histories as JSON: atomic writes, reads, and summaries.

A history file holds `config`, `metrics` (one list per metric, as Keras's
`History.history` gives them, with `val_` renamed `test_` because our
validation data is the test set), `epoch`, `epoch_time_s`, `final`,
`wall_time_s`, `status` and `provenance`.
"""

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

REQUIRED_FIELDS = ("config", "metrics", "epoch", "epoch_time_s", "final", "wall_time_s", "status", "provenance")


def write_json(path, payload):
    """Write JSON atomically: a temporary file in the same folder, then rename.

    A crash or a full disk during the write leaves any previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(payload, file, indent=1, sort_keys=True, allow_nan=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_history(path):
    """Read a history file and check that it has every field.

    Raises:
        ValueError: the file is not JSON or lacks a required field; the
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
    return history


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
    }


def metric_at(history, metric, epoch):
    """Value of `metric` after `epoch` (1-based), or None if the run was shorter."""
    if epoch not in history["epoch"]:
        return None
    return history["metrics"][metric][history["epoch"].index(epoch)]
