"""Each question's headline numbers, saved for the report index.

A notebook ends with `results.record(session, "a_q1", ours, runs)`: it writes
`histories/results/<profile>/<question>.json` and returns our numbers beside
the published ones (`published.compare`). The metric names are those of
`published.csv`; extra metrics are kept too.
"""

import datetime

from lib import files, paths
from lib.studies import published


def results_path(question, profile):
    """Where the headline numbers of `question` under `profile` are kept."""
    return paths.history_dir() / "results" / profile / f"{question}.json"


def record(session, question, ours, runs=()):
    """Save `question`'s numbers and return them beside the published ones.

    Args:
        session: what `runs.setup` returned; its profile files the numbers.
        question: a question of `published.csv`, e.g. "a_q1".
        ours: dict metric -> number (None for a metric not measured).
        runs: the `runs.Run`s behind the numbers; their histories are linked.

    Returns:
        `published.compare(question, ours)`.
    """
    comparison = published.compare(question, ours)  # checks the question first
    _write(session, question, {
        "status": "ran",
        "ours": {name: None if value is None else float(value) for name, value in ours.items()},
        "histories": sorted({str(run.history_path) for run in runs}),
    })
    return comparison


def skip(session, question, reason):
    """Save that `question` was skipped, and why (shown on the index)."""
    published.table(question)
    _write(session, question, {"status": "skipped", "reason": reason, "ours": {}, "histories": []})


def _write(session, question, content):
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    files.write_json(results_path(question, session.profile),
                     {"question": question, "profile": session.profile, "recorded": now, **content})
