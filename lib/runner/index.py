"""`reports/index.html`: every study at a glance.

    python -m lib.runner.index            # rebuild the index from what is on disk (make report)

One row per notebook in notebooks/ (and per question that recorded results
without one): status (ran, failed, running or interrupted, skipped and why, not run), profile, wall
time, our headline numbers beside the published ones, links to the report
and figures. Then the reproduction check: every published value
(lib/studies/published.csv) and published curve point against our latest
result, as each question's notebook checked it (lib/studies/reproduction.py:
reproduced, not reproduced, or not comparable yet and why); and the
provenance of every report. A question whose numbers come from a reference
run (lib/core/reference.py) says so, with where, when and at which commit
that run was trained.

It reads only files: the runner's records (`reports/<name>.run.json`), the
results that notebooks save (`histories/results/<profile>/<question>.json`,
lib/studies/results.py) and the histories they name. Python gathers the rows;
templates/index.html.j2 lays them out, escaping every value. A file that is not
valid JSON or lacks what the index reads is left out and named in its
notebook's or question's row as damaged; the rest of the index is built as usual.
"""

import argparse
import csv
import datetime
import json
import os
import urllib.parse
from pathlib import Path

import jinja2

from lib import files, machine, paths
from lib.core import history, reference, show
from lib.runner import reports
from lib.studies import published, reproduction

_NUMBER = (int, float)
# What the index reads from each file: field -> type (or types), a dict of them
# for an object, [type] for a list of that type; a field ending in "?" may be absent.
_RECORD = {
    "status": str, "error": (str, type(None)), "seconds": _NUMBER, "questions": [str], "figures": [str],
    "provenance": {"profile": str, "start": str, "end": str, "seconds": _NUMBER, "git": (dict, type(None)), "versions": dict,
                   "kernel?": dict, "training": {"runs": int, "seeds?": list}},
    "pid?": int, "host?": str,
}
_KERNEL = {"keras": str, "backend": str, "device": str, "threads": int}  # a record's kernel, when it logged one
_SHIPPED = {"profile": str, "trained": {"start": str, "end": str}, "devices": [str], "backends": [str], "keras": [str],
            "commits": [str], "data_files": dict}  # what `reference.summary` reads
_RESULT = {"question": str, "profile": str, "recorded": str, "status": ("ran", "skipped"), "reason?": str,
           "ours": dict, "checks?": [dict], "histories": [str],
           "reference?": {"provenance": _SHIPPED, "runs": int, "wall_time_s": _NUMBER}}


def _not_checked(question, metric, value, result):
    # A published number without a check of ours: never run, skipped, or recorded before checks existed.
    if result is None:
        verdict, reason = "not run", "no result under any profile"
    elif result["status"] == "skipped":
        verdict, reason = "skipped", result.get("reason", "")
    else:
        verdict, reason = "not comparable yet", "recorded by an older version of the notebook: run it again"
    return {"metric": metric, "label": metric, "epoch": None, "published": value, "ours": result and result["ours"].get(metric),
            "difference": None, "tolerance": "", "verdict": verdict, "css": {"not run": "missing", "skipped": "skipped"}.get(verdict, "neutral"),
            "reason": reason, "source": ""}


def load_results():
    """The results in histories/results/: ({question: {profile: results}}, {question: [what is wrong with its damaged files]})."""
    found, damaged = {}, {}
    questions = set(published.table()["question"])
    for path in sorted((paths.history_dir() / "results").glob("*/*.json")):
        content, problem = _read(path, _RESULT)
        if problem is None and (content["question"], content["profile"]) != (path.stem, path.parent.name):
            problem = (f"{_shown(path)}: holds question {content['question']!r} and profile {content['profile']!r}; "
                       f"expected {path.stem!r} and {path.parent.name!r}, as its path says")
        elif problem is None and path.stem not in questions:
            problem = f"{_shown(path)}: unknown question {path.stem!r}; expected one of lib/studies/published.csv"
        elif problem is None and not all(value is None or isinstance(value, _NUMBER) for value in content["ours"].values()):
            problem = f"{_shown(path)}: ours holds a value that is neither a number nor null"
        if problem is None:
            found.setdefault(path.stem, {})[path.parent.name] = content
        else:
            damaged.setdefault(path.stem, []).append(problem)
    return found, damaged


def load_records(reports_dir):
    """The runner's records in `reports_dir`: ({notebook name: record}, {notebook name: what is wrong with its damaged record})."""
    found, damaged = {}, {}
    for path in sorted(Path(reports_dir).glob("*.run.json")):
        content, problem = _read(path, _RECORD)
        if content and content["provenance"].get("kernel"):  # what the kernel ran on, when it logged it
            problem = _mismatch(content["provenance"]["kernel"], _KERNEL, "provenance.kernel", path)
        if problem:
            damaged[path.name[: -len(".run.json")]] = problem
        else:
            found[path.name[: -len(".run.json")]] = content
    return found, damaged


def _read(path, fields):
    """(content of the JSON file at `path`, None), or (None, what is wrong with it) when it does not hold `fields`."""
    try:
        content = json.loads(Path(path).read_text())
    except OSError as error:
        return None, f"{_shown(path)}: cannot be read ({error})"
    except ValueError as error:  # not UTF-8 or not JSON: a truncated write, say
        return None, f"{_shown(path)}: not valid JSON ({error})"
    problem = _mismatch(content, fields, "", path)
    return (None, problem) if problem else (content, None)


def _mismatch(value, expected, name, path):
    """What in `value` (field `name` of the file at `path`) does not fit `expected` (see _RECORD), or None."""
    where = f"{_shown(path)}: {name or 'its content'}"
    if isinstance(expected, dict):
        if not isinstance(value, dict):
            return f"{where} is {_received(value)}; expected a JSON object"
        missing = [field for field in expected if field not in value and not field.endswith("?")]
        if missing:
            return f"{_shown(path)}: lacks {', '.join(f'{name}.{field}' if name else field for field in missing)}"
        for field, wanted in expected.items():
            key = field.removesuffix("?")
            problem = key in value and _mismatch(value[key], wanted, f"{name}.{key}" if name else key, path)
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(value, list):
            return f"{where} is {_received(value)}; expected a list"
        wrong = [item for item in value if not isinstance(item, expected[0])]
        return f"{where} holds {_received(wrong[0])}; expected only {expected[0].__name__} items" if wrong else None
    if isinstance(expected, tuple) and all(isinstance(option, str) for option in expected):
        return None if value in expected else f"{where} is {_received(value)}; expected one of {expected}"
    if isinstance(value, expected):
        return None
    names = " or ".join(option.__name__.replace("NoneType", "null") for option in (expected if isinstance(expected, tuple) else (expected,)))
    return f"{where} is {_received(value)}; expected {names}"


def _received(value):
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shown(path):
    """`path` relative to the repository when it is inside it (no machine paths on the page)."""
    path = Path(path)
    return str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)


def latest(by_profile, prefer_full=False):
    """The most recently recorded of a question's results (the full-profile one first if `prefer_full`)."""
    if not by_profile:
        return None
    if prefer_full and "full" in by_profile:
        return by_profile["full"]
    return max(by_profile.values(), key=lambda result: result["recorded"])


def training_time(result):
    """(seconds, runs, damaged) summed over the histories a result names that still exist.

    `damaged` lists what is wrong with those that cannot be read (each names its file); they are not counted.
    """
    seconds, count, damaged = 0.0, 0, []
    for path in (result or {}).get("histories", []):
        if Path(path).is_file():
            try:
                seconds += history.read_history(path)["wall_time_s"]
                count += 1
            except (OSError, ValueError) as error:
                damaged.append(str(error))
    return seconds, count, damaged


def _number(value):
    if value is None:
        return "–"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.4f}"


def _difference(value):
    return "–" if value is None else ("+" if value >= 0 else "−") + _number(abs(value))


# One word per status, in the studies table, the provenance table and the summary alike.
_STATUS_WORDS = {"ok": "ran", "missing": "not run"}
# A notebook's status (its row's css class), in the order the summary counts them.
NOTEBOOK_STATUSES = ("ran", "failed", "skipped", "missing", "running", "interrupted", "damaged")
# The css class of each check (lib/studies/reproduction.py) and what the summary calls it.
CHECK_CLASSES = {"within": "reproduced", "outside": "not reproduced", "neutral": "not comparable yet"}


def _status_word(status):
    return _STATUS_WORDS.get(status, status)


_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
# A check's label is prose (published.csv), or a bare code key where no label was saved: `label` words it.
_TEMPLATES.filters.update(number=_number, difference=_difference, label=show.metric_label, status=_status_word)


def _link(target, text, reports_dir):
    """(href relative to `reports_dir`, text); href None when `target` is not a file."""
    target = Path(target)
    # Quoted, a file name such as "javascript:alert(1).png" stays a relative path.
    return (urllib.parse.quote(os.path.relpath(target, reports_dir)) if target.is_file() else None), text


def _figure_name(path):
    """'feature_maps_0/0_C1' for figures/a_q1/feature_maps_0/0_C1.png (the question's folder left out)."""
    try:
        relative = Path(path).relative_to(paths.figure_dir())
    except ValueError:
        return Path(path).stem
    return str(relative.with_suffix("").relative_to(relative.parts[0])) if len(relative.parts) > 1 else relative.stem


def _rows(notebook_dir, records, results):
    """[(notebook name or None, [questions])]: every notebook, then questions no notebook claims.

    `results` holds every question with results on disk (damaged ones too).
    """
    names = sorted(path.stem for path in Path(notebook_dir).glob("*.ipynb"))
    rows, claimed = [], set()
    for name in names:
        record = records.get(name)
        if record is not None and record["status"] == "ok":
            questions = record["questions"]
        else:  # never run by the runner, or failed: the question named by the notebook's prefix
            questions = [q for q in results if name.startswith(q + "_")]
        rows.append((name, questions))
        claimed.update(questions)
    rows += [(None, [question]) for question in sorted(set(results) - claimed)]
    return rows


def _headline(question, result):
    """([(label, ours, published, difference)], how many published values the run did not measure)."""
    table = published.table(question)
    compared = [(row["label"], result["ours"].get(row["metric"]), row["value"]) for _, row in table.iterrows()]
    measured = [(metric, ours, value, ours - value) for metric, ours, value in compared if ours is not None]
    return measured, len(compared) - len(measured)


def _run_status(record):
    """A record's status, "interrupted" for a "running" one whose runner (on this host) is gone."""
    if record["status"] == "running" and not machine.process_alive(record.get("pid"), record.get("host")):
        return "interrupted"
    return record["status"]


def _status(record, result):
    """(css class, detail): failed (the error), running or interrupted (which run), skipped (the reason), ran or missing."""
    if record is not None and record["status"] == "failed":
        return "failed", record["error"] or ""
    if record is not None and record["status"] in ("running", "interrupted"):
        started = record["provenance"]["start"]
        return _run_status(record), f"run started {started} by process {record.get('pid')} on {record.get('host')}"
    if result is not None and result["status"] == "skipped":
        return "skipped", result.get("reason", "")
    return ("ran" if record is not None or result is not None else "missing"), None


def _study_rows(notebook_dir, records, results, reports_dir, damaged):
    found = []
    for name, questions in _rows(notebook_dir, records, {**damaged["results"], **results}):
        record = records.get(name) if name else None
        profile = record["provenance"]["profile"] if record else None
        chosen = {q: results.get(q, {}).get(profile) if profile else latest(results.get(q, {})) for q in questions}
        unfinished = record is not None and record["status"] in ("running", "interrupted")  # its report is an earlier run's
        if record is not None and record["status"] != "ok":
            chosen = {}
        wall = [f"notebook {record['seconds']:.1f} s"] if record else []
        problems = ([damaged["records"][name]] if name in damaged["records"] else []) + [
            problem for q in questions for problem in damaged["results"].get(q, [])]
        shipped = {q: result["reference"] for q, result in chosen.items() if result and result.get("reference")}
        for q, result in chosen.items():
            seconds, count, unreadable = training_time(result)
            problems += unreadable
            if count:
                wall.append(f"{q} training {seconds:.0f} s ({count} run{'s' * (count != 1)})")
            if q in shipped:
                count = shipped[q]["runs"]
                wall.append(f"{q} reference run: training {shipped[q]['wall_time_s']:.0f} s ({count} run{'s' * (count != 1)})")
        figures = record["figures"] if record else [str(p) for q in questions for p in sorted((paths.figure_dir() / q).rglob("*.png"))]
        found.append({
            "id": name or questions[0],
            "notebook": (None, name) if unfinished else _link(reports_dir / f"{name}.html", name, reports_dir) if name else None,
            "report": _link(reports_dir / f"{name}.html", "report", reports_dir) if name else None,
            "questions": questions,
            "status": ("damaged", "; ".join(problems)) if problems else _status(record, next((r for r in chosen.values() if r), None)),
            "profile": profile or next((r["profile"] for r in chosen.values() if r), "–"),
            "wall": wall,
            "headlines": [_headline(q, r) for q, r in chosen.items() if r is not None and r["status"] == "ran"],
            "reference": [f"{q}: {reference.summary(found['provenance'])}" for q, found in shipped.items()],
            "figures": [_link(path, _figure_name(path), reports_dir) for path in figures if Path(path).is_file()],
        })
    return found


def _reproduction_rows(results):
    """One row per published number (and per matched epoch of a published curve), from the checks each question saved."""
    found = []
    table = published.table()
    for question in dict.fromkeys(table["question"]):
        result = latest(results.get(question, {}), prefer_full=True)
        checks = (result or {}).get("checks")
        if not checks:
            rows = table[table["question"] == question]
            checks = [_not_checked(question, row["metric"], row["value"], result) for _, row in rows.iterrows()]
        recorded = "–" if result is None else f"{result['profile']}, {result['recorded']}" + (
            ", numbers of the reference run, not a run of yours" if result.get("reference") else "")
        found += [{**check, "question": question, "recorded": recorded} for check in checks]
    return found


def _provenance_rows(records, statuses):
    """One row per runner record; its status as the studies table shows it (`statuses`: notebook -> status word)."""
    found = []
    for name, record in sorted(records.items()):
        provenance = record["provenance"]
        found.append({
            "notebook": name, "status": statuses.get(name) or _status_word(_run_status(record)), "profile": provenance["profile"],
            "start": provenance["start"], "end": provenance["end"], "seconds": provenance["seconds"],
            "commit": reports.commit_text(provenance["git"]), "backend": reports.backend_text(provenance),
            "runs": f"{provenance['training']['runs']}" + (" and the reference run" if provenance.get("reference") else ""),
            "seeds": reports.seeds_text(provenance["training"].get("seeds", [])),
        })
    return found


def _tally(rows):
    """[(css class, word, count)] of checks: reproduced, not reproduced and not comparable yet always, then any other verdict."""
    found = [(css, word, sum(row["css"] == css for row in rows)) for css, word in CHECK_CLASSES.items()]
    others = {}
    for row in rows:
        if row["css"] not in CHECK_CLASSES:
            others.setdefault((row["css"], row["verdict"]), []).append(row)
    return found + [(css, verdict, len(group)) for (css, verdict), group in others.items()]


def _check_groups(checks):
    """The checks by question, in published.csv's order: [{"question", "recorded", "rows", "tally", "open"}].

    A question opens on the page when one of its numbers was compared
    (reproduced or not); one with nothing comparable yet shows its counts only.
    """
    groups = {}
    for row in checks:
        groups.setdefault(row["question"], []).append(row)
    return [{"question": question, "recorded": rows[0]["recorded"], "rows": rows, "tally": _tally(rows),
             "open": any(row["css"] in ("within", "outside") for row in rows)} for question, rows in groups.items()]


def _summary(studies, checks):
    """The strip at the top: profiles, notebook statuses and check verdicts, counted."""
    notebooks = [row for row in studies if row["notebook"]]
    profiles = {}
    for row in notebooks:
        if row["profile"] != "–":
            profiles[row["profile"]] = profiles.get(row["profile"], 0) + 1
    statuses = {css: sum(row["status"][0] == css for row in notebooks) for css in NOTEBOOK_STATUSES}
    return {
        "profiles": profiles,
        # ran, failed and skipped always; the rarer statuses when they occur.
        "notebooks": [(css, _status_word(css), count) for css, count in statuses.items() if count or css in NOTEBOOK_STATUSES[:3]],
        "total": len(notebooks),
        "checks": _tally(checks),
        "published": len(checks),
    }


def build(reports_dir=None, notebook_dir=None):
    """Write `index.html` in `reports_dir` from the records, results and histories on disk.

    Args:
        reports_dir: defaults to `reports/`.
        notebook_dir: defaults to `notebooks/`; every notebook in it gets a row.

    Returns:
        The path of the index.
    """
    reports_dir = Path(reports_dir or paths.ROOT / "reports")
    notebook_dir = Path(notebook_dir or paths.ROOT / "notebooks")
    reports_dir.mkdir(parents=True, exist_ok=True)
    (records, damaged_records), (results, damaged_results) = load_records(reports_dir), load_results()
    with open(reproduction.TOLERANCES, newline="") as file:
        rules = list(csv.DictReader(file))
    studies = _study_rows(notebook_dir, records, results, reports_dir, {"records": damaged_records, "results": damaged_results})
    checks = _reproduction_rows(results)
    groups = _check_groups(checks)
    for row in studies:  # each notebook's checks, counted, beside its headline numbers
        row["checks"] = [group for group in groups if group["question"] in row["questions"]]
    page = _TEMPLATES.get_template("index.html.j2").render(
        built=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        commit=reports.commit_text(machine.git_state()),
        versions=", ".join(f"{name} {version}" for name, version in reports.versions().items()),
        summary=_summary(studies, checks),
        studies=studies,
        tolerance_rules=rules,
        checks=groups,
        provenance=_provenance_rows(records, {row["notebook"][1]: _status_word(row["status"][0]) for row in studies if row["notebook"]}),
    )
    path = reports_dir / "index.html"
    with files.atomic_file(path) as file:
        file.write(page)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lib.runner.index", description="Rebuild reports/index.html.")
    parser.add_argument("--reports-dir", default=str(paths.ROOT / "reports"))
    args = parser.parse_args(argv)
    print(build(args.reports_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
