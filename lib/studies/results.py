"""Each question's headline numbers and reproduction checks, saved for the report index.

A notebook ends with `results.record(session, "a_q1", ours, runs, curves=...)`:
it checks our numbers against the published ones (`reproduction`), writes
`histories/results/<profile>/<question>.json` and returns the checks as a
table. The metric names are those of `published.csv`; extra metrics are kept
too. Numbers from a reference run (lib/core/reference.py) are saved as its
numbers, with its provenance, and checked against what its data copy
lacked, not this data directory's.
"""

import datetime

from lib import files, paths, studies
from lib.studies import published, reproduction


def results_path(question, profile):
    """Where the headline numbers of `question` under `profile` are kept."""
    return paths.history_dir() / "results" / profile / f"{question}.json"


def record(session, question, ours, runs=(), *, epochs=None, spread=None, curves=None):
    """Check `question`'s numbers against the published ones, save them and return the checks.

    Args:
        session: what `runs.setup` returned; its profile files the numbers.
        question: a question of `published.csv`, e.g. "a_q1".
        ours: dict metric -> number (None for a metric not measured).
        runs: the `runs.Run`s behind the numbers; their histories are linked,
            or for reference runs the reference's provenance is saved.
        epochs: the epochs behind `ours`: an int, or a dict metric -> int.
            Defaults to the shortest of `runs`.
        spread: dict metric -> standard deviation of our seeds, where we ran several.
        curves: dict published curve name (`curves.names()`) -> (label, runs
            of those settings, one per seed), for the matched-epoch checks.

    Returns:
        pandas DataFrame of the checks, one row per published number (and
        matched epoch); `attrs["checks"]` holds the rows as dicts,
        `attrs["reference"]` the reference run's provenance (None for runs of your own).
    """
    import pandas as pd

    published.table(question)  # checks the question first
    runs = list(runs)
    if epochs is None and runs:
        epochs = min(len(run.history["epoch"]) for run in runs)
    used = [*runs, *[run for _, group in (curves or {}).values() for run in group]]
    shipped = list({str(run.history_path): run for run in used if getattr(run, "reference", None)}.values())
    own = [run for run in used if not getattr(run, "reference", None)]
    why = shortfall(session, question) if own or not shipped else None
    if shipped:  # a reference run trained on its own data copy: what that copy lacked, not this data directory's
        why = "; ".join(dict.fromkeys(text for text in (why, shipped[0].reference["shortfalls"].get(question)) if text)) or None
    checks = reproduction.value_checks(question, ours, epochs, spread, why)
    cited = {check["source"] for check in checks}
    for name, (label, group) in (curves or {}).items():
        # A curve's final value that published.csv already lists is checked there.
        checks += [check for check in reproduction.curve_checks(question, name, label, [run.history for run in group], why)
                   if check["source"] not in cited]
    reference = shipped[0].reference if shipped else None
    _write(session, question, {
        "status": "ran",
        "ours": {name: None if value is None else float(value) for name, value in ours.items()},
        "checks": checks,
        "histories": sorted({str(run.history_path) for run in own}),
        **({"reference": {"provenance": reference, "runs": len(shipped),
                          "wall_time_s": sum(run.history["wall_time_s"] for run in shipped)}} if shipped else {}),
    })
    frame = pd.DataFrame(checks, columns=["label", "published", "ours", "difference", "tolerance", "verdict", "reason"])
    frame["check"] = [f"{verdict}: {reason}" if reason else verdict for verdict, reason in zip(frame["verdict"], frame["reason"])]
    frame = frame.set_index("label")[["published", "ours", "difference", "tolerance", "check"]]
    frame.attrs["checks"] = checks  # for reproduction.describe
    frame.attrs["reference"] = reference
    return frame


def shortfall(session, question):
    """Why `question`'s data or scale under `session` differs from the published one (None where it does not).

    The study module says so (its `shortfall(session, question)`, e.g. 9,997
    of 60,000 MNIST digits, or its `CAVEATS` per profile); the smoke profile
    always falls short.
    """
    study = studies.STUDIES[studies.study_letter(question)]
    if hasattr(study, "shortfall"):
        found = study.shortfall(session, question)
        if found:
            return found
    return studies.caveat(question, session.profile)


def skip(session, question, reason):
    """Save that `question` was skipped, and why (shown on the index)."""
    published.table(question)
    _write(session, question, {"status": "skipped", "reason": reason, "ours": {}, "checks": [], "histories": []})


def _write(session, question, content):
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    files.write_json(results_path(question, session.profile),
                     {"question": question, "profile": session.profile, "recorded": now, **content})
