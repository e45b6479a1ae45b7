"""Each question's headline numbers, saved for the report index.

A notebook ends with `results.record("a_q1", ours, runs)`: it writes
`histories/results/<profile>/<question>.json` and returns our numbers beside
the published ones (`published.compare`). The metric names are those of
`published.csv`; extra metrics are kept too.
"""

import datetime

from lib import history, paths, published, runs as runs_module


def results_path(question, profile):
    """Where the headline numbers of `question` under `profile` are kept."""
    return paths.history_dir() / "results" / profile / f"{question}.json"


def record(question, ours, runs=()):
    """Save `question`'s numbers and return them beside the published ones.

    Args:
        question: a question of `published.csv`, e.g. "a_q1".
        ours: dict metric -> number (None for a metric not measured).
        runs: the `runs.Run`s behind the numbers; their histories are linked.

    Returns:
        `published.compare(question, ours)`.
    """
    comparison = published.compare(question, ours)  # checks the question first
    _write(question, {
        "status": "ran",
        "ours": {name: None if value is None else float(value) for name, value in ours.items()},
        "histories": sorted({str(run.history_path) for run in runs}),
    })
    return comparison


def skip(question, reason):
    """Save that `question` was skipped, and why (shown on the index)."""
    published.table(question)
    _write(question, {"status": "skipped", "reason": reason, "ours": {}, "histories": []})


def _write(question, content):
    profile = runs_module._session["profile"]
    if profile is None:
        raise RuntimeError("Call runs.setup(profile, data_dir) before results.record(...).")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    history.write_json(results_path(question, profile),
                       {"question": question, "profile": profile, "recorded": now, **content})
