"""`reports/index.html`: every study at a glance.

    python -m lib.runner.index            # rebuild the index from what is on disk (make report)

One row per notebook in notebooks/ (and per question that recorded results
without one): status (ran, failed, skipped and why, not run), profile, wall
time, our headline numbers beside the published ones, links to the report
and figures. Then the reproduction check: every published value
(lib/studies/published.csv) against our latest result, within or outside the
tolerance of lib/studies/tolerances.csv; and the provenance of every report.

It reads only files: the runner's records (`reports/<name>.run.json`), the
results that notebooks save (`histories/results/<profile>/<question>.json`,
lib/studies/results.py) and the histories they name. Python gathers the rows;
templates/index.html.j2 lays them out, escaping every value.
"""

import argparse
import csv
import datetime
import fnmatch
import json
import os
from pathlib import Path

import jinja2

from lib import files, machine, paths, studies
from lib.core import history
from lib.runner import reports
from lib.studies import published

TOLERANCES = Path(studies.__file__).with_name("tolerances.csv")


def tolerance(question, metric):
    """(tolerance, relative, reason) of the first row of tolerances.csv matching `question` and `metric`.

    Patterns are shell-style (`*accuracy*`); an empty tolerance means the
    metric is shown but not checked. Returns (None, False, reason) then, and
    (None, False, "no rule") when no row matches.
    """
    with open(TOLERANCES, newline="") as file:
        for row in csv.DictReader(file):
            if fnmatch.fnmatchcase(question, row["question"]) and fnmatch.fnmatchcase(metric, row["metric"]):
                if not row["tolerance"]:
                    return None, False, row["reason"]
                return float(row["tolerance"]), row["relative"].strip().lower() == "true", row["reason"]
    return None, False, "no rule in tolerances.csv"


def verdict(question, metric, published_value, result):
    """How our result for one published value compares: (label, css class, tolerance text).

    Args:
        question, metric: the published row.
        published_value: the published number.
        result: the question's saved results (lib/studies/results.py), or None.
    """
    limit, relative, reason = tolerance(question, metric)
    stated = "not checked" if limit is None else (f"±{limit:.0%}" if relative else f"±{limit:g}")
    if result is None:
        return "not run", "missing", stated
    if result["status"] == "skipped":
        return f"skipped: {result.get('reason', '')}", "skipped", stated
    ours = result["ours"].get(metric)
    if ours is None:
        return "not measured by this run", "missing", stated
    if result["profile"] != "full":
        return f"not meaningful ({studies.caveat(question, result['profile']) or result['profile'] + ' profile'})", "neutral", stated
    if limit is None:
        return f"not checked ({reason})", "neutral", stated
    allowed = limit * abs(published_value) if relative else limit
    inside = abs(ours - published_value) <= allowed
    return ("within" if inside else "outside") + " tolerance", "within" if inside else "outside", stated


def load_results():
    """{question: {profile: saved results}} from histories/results/."""
    found = {}
    for path in sorted((paths.history_dir() / "results").glob("*/*.json")):
        content = json.loads(path.read_text())
        found.setdefault(content["question"], {})[content["profile"]] = content
    return found


def load_records(reports_dir):
    """{notebook name: the runner's record} from `reports_dir`."""
    return {path.name[: -len(".run.json")]: json.loads(path.read_text()) for path in sorted(Path(reports_dir).glob("*.run.json"))}


def latest(by_profile, prefer_full=False):
    """The most recently recorded of a question's results (the full-profile one first if `prefer_full`)."""
    if not by_profile:
        return None
    if prefer_full and "full" in by_profile:
        return by_profile["full"]
    return max(by_profile.values(), key=lambda result: result["recorded"])


def training_time(result):
    """(seconds, runs) summed over the histories a result names that still exist."""
    seconds, count = 0.0, 0
    for path in (result or {}).get("histories", []):
        if Path(path).is_file():
            seconds += history.read_history(path)["wall_time_s"]
            count += 1
    return seconds, count


def _number(value):
    if value is None:
        return "–"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.4f}"


def _difference(value):
    return "–" if value is None else ("+" if value >= 0 else "−") + _number(abs(value))


_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_TEMPLATES.filters.update(number=_number, difference=_difference)


def _link(target, text, reports_dir):
    """(href relative to `reports_dir`, text); href None when `target` is not a file."""
    target = Path(target)
    return (os.path.relpath(target, reports_dir) if target.is_file() else None), text


def _figure_name(path):
    """'feature_maps_0/0_C1' for figures/a_q1/feature_maps_0/0_C1.png (the question's folder left out)."""
    try:
        relative = Path(path).relative_to(paths.figure_dir())
    except ValueError:
        return Path(path).stem
    return str(relative.with_suffix("").relative_to(relative.parts[0])) if len(relative.parts) > 1 else relative.stem


def _rows(notebook_dir, records, results):
    """[(notebook name or None, [questions])]: every notebook, then questions no notebook claims."""
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
    """([(metric, ours, published, difference)], how many published values the run did not measure)."""
    table = published.table(question)
    compared = [(row["metric"], result["ours"].get(row["metric"]), row["value"]) for _, row in table.iterrows()]
    measured = [(metric, ours, value, ours - value) for metric, ours, value in compared if ours is not None]
    return measured, len(compared) - len(measured)


def _status(record, result):
    """(css class, detail): failed (the error), skipped (the reason), ran or missing (not run)."""
    if record is not None and record["status"] == "failed":
        return "failed", record["error"] or ""
    if result is not None and result["status"] == "skipped":
        return "skipped", result.get("reason", "")
    return ("ran" if record is not None or result is not None else "missing"), None


def _study_rows(notebook_dir, records, results, reports_dir):
    found = []
    for name, questions in _rows(notebook_dir, records, results):
        record = records.get(name) if name else None
        profile = record["provenance"]["profile"] if record else None
        chosen = {q: results.get(q, {}).get(profile) if profile else latest(results.get(q, {})) for q in questions}
        if record is not None and record["status"] == "failed":
            chosen = {}
        wall = [f"notebook {record['seconds']:.1f} s"] if record else []
        for q, result in chosen.items():
            seconds, count = training_time(result)
            if count:
                wall.append(f"{q} training {seconds:.0f} s ({count} run{'s' * (count != 1)})")
        figures = record["figures"] if record else [str(p) for q in questions for p in sorted((paths.figure_dir() / q).rglob("*.png"))]
        found.append({
            "id": name or questions[0],
            "notebook": _link(reports_dir / f"{name}.html", name, reports_dir) if name else None,
            "report": _link(reports_dir / f"{name}.html", "report", reports_dir) if name else None,
            "questions": ", ".join(questions),
            "status": _status(record, next((r for r in chosen.values() if r), None)),
            "profile": profile or next((r["profile"] for r in chosen.values() if r), "–"),
            "wall": wall,
            "headlines": [_headline(q, r) for q, r in chosen.items() if r is not None and r["status"] == "ran"],
            "figures": [_link(path, _figure_name(path), reports_dir) for path in figures if Path(path).is_file()],
        })
    return found


def _reproduction_rows(results):
    found = []
    for _, row in published.table().iterrows():
        result = latest(results.get(row["question"], {}), prefer_full=True)
        label, css, stated = verdict(row["question"], row["metric"], row["value"], result)
        ours = None if result is None else result["ours"].get(row["metric"])
        found.append({
            "css": css, "question": row["question"], "metric": row["metric"], "published": row["value"], "ours": ours,
            "difference": None if ours is None else ours - row["value"], "tolerance": stated, "check": label,
            "source": "–" if result is None else f"{result['profile']}, {result['recorded']}", "note": row["note"],
        })
    return found


def _provenance_rows(records):
    found = []
    for name, record in sorted(records.items()):
        provenance = record["provenance"]
        found.append({
            "notebook": name, "status": record["status"], "profile": provenance["profile"], "start": provenance["start"],
            "end": provenance["end"], "seconds": provenance["seconds"], "commit": reports.commit_text(provenance["git"]),
            "backend": reports.backend_text(provenance), "runs": provenance["training"]["runs"],
            "seeds": ", ".join(map(str, provenance["training"].get("seeds", []))),
        })
    return found


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
    records, results = load_records(reports_dir), load_results()
    with open(TOLERANCES, newline="") as file:
        rules = list(csv.DictReader(file))
    page = _TEMPLATES.get_template("index.html.j2").render(
        built=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        commit=reports.commit_text(machine.git_state()),
        versions=", ".join(f"{name} {version}" for name, version in reports.versions().items()),
        studies=_study_rows(notebook_dir, records, results, reports_dir),
        tolerance_rules=rules,
        reproduction=_reproduction_rows(results),
        provenance=_provenance_rows(records),
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
