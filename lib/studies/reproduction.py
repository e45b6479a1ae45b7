"""Whether we reproduce each published number: one check per number, at matched epochs.

Two kinds of published number:

- a point of a published per-epoch curve (Studies A and B, `curves`): our
  test accuracy and loss against the published ones at the same epoch, each
  side smoothed by its mean over the epochs within `WINDOW` of it (single
  epochs are noisy: the published 90/40 run ends at 0.5195 after a late
  mean of 0.5589). Checked at `CHECKPOINTS` up to the shorter of the two
  runs, and at our last epoch;
- a row of `published.csv`, compared once we trained its epoch count
  (`epochs` column) on the published data; otherwise the check says what is
  missing ("50 of 1000 epochs", "9,997 of 60,000 MNIST digits").

Tolerances come from `tolerances.csv` (first matching row). With several
seeds the allowance widens to twice our seeds' standard deviation where that
is larger: the published side has one run per setting. Importing this
module does not import Keras.
"""

import csv
import fnmatch
from pathlib import Path

import numpy as np

from lib.core import reference
from lib.studies import curves, published

TOLERANCES = Path(__file__).with_name("tolerances.csv")
CHECKPOINTS = (10, 50, 100, 250, 500, 1000)
WINDOW = 2
CURVE_METRICS = {"test_accuracy": "test accuracy", "test_loss": "test loss"}
# verdict -> css class of the index; "shown" rows are facts of hardware, not checked.
VERDICTS = {"reproduced": "within", "not reproduced": "outside", "not comparable yet": "neutral", "shown, not checked": "info"}


def tolerance(question, metric):
    """(tolerance, relative, reason) of the first row of tolerances.csv matching `question` and `metric`.

    Patterns are shell-style (`*accuracy*`); an empty tolerance means the
    metric is shown but not checked: (None, False, reason).
    """
    with open(TOLERANCES, newline="") as file:
        for row in csv.DictReader(file):
            if fnmatch.fnmatchcase(question, row["question"]) and fnmatch.fnmatchcase(metric, row["metric"]):
                if not row["tolerance"]:
                    return None, False, row["reason"]
                return float(row["tolerance"]), row["relative"].strip().lower() == "true", row["reason"]
    raise ValueError(f"No row of {TOLERANCES.name} matches question {question!r}, metric {metric!r}; its last row should match every metric.")


def allowance(question, metric, published_value, spread=0.0):
    """(allowed absolute difference or None, its description) for one published number."""
    limit, relative, _ = tolerance(question, metric)
    if limit is None:
        return None, "not checked"
    allowed = limit * abs(published_value) if relative else limit
    stated = f"±{limit:.0%}" if relative else f"±{limit:g}"
    if 2 * spread > allowed:
        return 2 * spread, f"±{2 * spread:.3g} (2 sd of our seeds)"
    return allowed, stated


def _row(question, metric, label, published_value, ours, spread, reason, source, epoch=None):
    allowed, stated = allowance(question, metric, published_value, spread)
    if allowed is None:  # a fact of the hardware, never a verdict
        verdict = "shown, not checked"
    elif reason is None:
        verdict = "reproduced" if abs(ours - published_value) <= allowed else "not reproduced"
    else:
        verdict = "not comparable yet"
    return {"metric": metric, "label": label, "epoch": epoch, "published": float(published_value),
            "ours": None if ours is None else float(ours),
            "difference": None if ours is None else float(ours) - float(published_value),
            "tolerance": stated, "verdict": verdict, "css": VERDICTS[verdict], "reason": reason or "", "source": source}


def window(epoch, last):
    """The epochs (1-based) within `WINDOW` of `epoch`, up to `last`."""
    return range(max(1, epoch - WINDOW), min(last, epoch + WINDOW) + 1)


def checkpoints(ours, published_epochs):
    """The epochs where a curve of `ours` epochs is set beside a published one of `published_epochs`."""
    last = min(ours, published_epochs)
    return sorted({epoch for epoch in CHECKPOINTS if epoch <= last} | {last})


def curve_checks(question, name, label, histories, shortfall=None):
    """Checks of our runs (one per seed) against the published curve `name`.

    Args:
        question: e.g. "a_q2".
        name: a published run (`curves.names()`), e.g. "2a/q2_model_90_40".
        label: what the rows say it is, e.g. "C1=90, C2=40".
        histories: our histories of those settings, one per seed (`runs.Run.history`).
        shortfall: why our data differs from the published data, if it does.

    Returns:
        list of check rows (dicts).
    """
    published_curve = curves.curve(name)
    length = min(len(h["metrics"]["test_accuracy"]) for h in histories)
    rows = []
    for epoch in checkpoints(length, published_curve.epochs):
        epochs = window(epoch, min(length, published_curve.epochs))
        for metric, metric_label in CURVE_METRICS.items():
            seeds = [float(np.mean([h["metrics"][metric][e - 1] for e in epochs])) for h in histories]
            theirs = float(np.mean([published_curve.metrics[metric][e - 1] for e in epochs]))
            spread = float(np.std(seeds, ddof=1)) if len(seeds) > 1 else 0.0
            source = published_curve.cite(epochs.start, epochs.stop - 1)
            rows.append(_row(question, f"{name}:{metric}@{epoch}", f"{label}: {metric_label}, epoch {epoch}",
                             theirs, float(np.mean(seeds)), spread, shortfall, source, epoch))
    if length < published_curve.epochs:
        rows.append(_row(question, f"{name}:test_accuracy@{published_curve.epochs}",
                         f"{label}: test accuracy, epoch {published_curve.epochs}",
                         published_curve.metrics["test_accuracy"][-1], None, 0.0,
                         f"{length} of {published_curve.epochs} epochs", published_curve.cite(published_curve.epochs),
                         published_curve.epochs))
    return rows


def value_checks(question, ours, epochs=None, spread=None, shortfall=None):
    """Checks of `ours` against each `published.csv` row of `question`.

    Args:
        ours: dict metric -> our number (None: not measured).
        epochs: epochs our numbers were trained for: an int, or a dict
            metric -> int; None where epochs do not apply.
        spread: dict metric -> standard deviation of our seeds.
        shortfall: why our data differs from the published data, if it does.
    """
    rows = []
    for _, row in published.table(question).iterrows():
        metric, needed = row["metric"], row["epochs"]
        value = ours.get(metric)
        trained = epochs.get(metric) if isinstance(epochs, dict) else epochs
        if value is None:
            reason = "not measured under this profile"
        else:
            short = needed == needed and trained is not None and trained < needed  # needed is NaN where epochs do not apply
            reason = "; ".join(part for part in (f"{trained} of {int(needed)} epochs" if short else "", shortfall or "") if part) or None
        rows.append(_row(question, metric, row["label"], row["value"], value,
                         (spread or {}).get(metric, 0.0), reason, row["source"]))
    return rows


def counts(rows):
    """{verdict: number of rows} over `VERDICTS`."""
    return {verdict: sum(row["verdict"] == verdict for row in rows) for verdict in VERDICTS}


def describe(checks, likely=None):
    """What the checks show, in a few sentences: how many reproduce, which do not and likely why, and what the others lack.

    Args:
        checks: rows of `value_checks`/`curve_checks`, or the table `results.record` returns (its `attrs["checks"]`;
            where its numbers come from a reference run, `attrs["reference"]`, the text first says so).
        likely: the study's likely reasons for a difference (its `LIKELY_REASONS`), said when something does not reproduce.

    Returns:
        Markdown text (labels and reasons come from the code and published.csv).
    """
    shipped = checks.attrs.get("reference") if hasattr(checks, "attrs") else None
    text = _describe(list(checks.attrs["checks"] if hasattr(checks, "attrs") else checks), likely)
    if shipped is None:
        return text
    return (f"These are the reference run's numbers ({reference.summary(shipped)}), not a run of yours; "
            f"`make all RETRAIN=1 PROFILE={shipped['profile']}` trains your own, drawn beside it. " + text)


def _describe(rows, likely):
    found = counts(rows)
    checked = found["reproduced"] + found["not reproduced"]
    reasons = "; ".join(sorted({row["reason"] for row in rows if row["verdict"] == "not comparable yet"}))
    if not checked:
        return f"None of the {len(rows)} published numbers can be compared under this profile" + (f" ({reasons})." if reasons else ".")
    text = [f"Of {len(rows)} published numbers, {checked} can be compared under this profile: "
            f"{found['reproduced']} reproduce within tolerance and {found['not reproduced']} do not."]
    missed = sorted((row for row in rows if row["verdict"] == "not reproduced"), key=lambda row: -abs(row["difference"]))
    if missed:
        text.append("Not reproduced: " + "; ".join(
            f"{row['label']} (ours {row['ours']:.4g}, published {row['published']:.4g})" for row in missed[:5])
            + (f"; and {len(missed) - 5} more" if len(missed) > 5 else "") + ".")
        if likely:
            text.append(f"Likely reasons: {likely}")
    if reasons:
        text.append(f"{found['not comparable yet']} cannot be compared yet: {reasons}.")
    return " ".join(text)
