"""The studies' published numbers (`published.csv`), set beside ours."""

from pathlib import Path

import pandas as pd

_TABLE = Path(__file__).with_name("published.csv")


def table(question=None):
    """Published values as a DataFrame (question, metric, value, epochs, label, source).

    `epochs` is the training length a value was published at (NaN where
    epochs do not apply, e.g. a wall time); `source` names where it was
    published (a history file and epoch, or a write-up).

    Args:
        question: e.g. "a_q1"; `None` returns every question.
    """
    frame = pd.read_csv(_TABLE)
    if question is None:
        return frame
    if question not in set(frame["question"]):
        raise ValueError(f"Unknown question: {question!r}. Expected one of {tuple(sorted(set(frame['question'])))}.")
    return frame[frame["question"] == question].reset_index(drop=True)


def compare(question, ours):
    """Published values of `question` beside `ours` (a dict metric -> value).

    A metric we did not measure (say, accuracy at epoch 100 in a 50-epoch
    run) shows as missing rather than being guessed.

    Returns:
        DataFrame indexed by metric: published, ours, difference, label.
    """
    frame = table(question).set_index("metric")
    frame["ours"] = [ours.get(metric) for metric in frame.index]
    frame["ours"] = frame["ours"].astype(float)
    frame["difference"] = frame["ours"] - frame["value"]
    return frame.rename(columns={"value": "published"})[["published", "ours", "difference", "label"]]


def value(question, metric):
    """One published number."""
    frame = table(question)
    match = frame[frame["metric"] == metric]
    if match.empty:
        raise ValueError(f"Unknown metric for {question}: {metric!r}. Expected one of {tuple(frame['metric'])}.")
    return float(match["value"].iloc[0])
