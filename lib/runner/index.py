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
lib/studies/results.py) and the histories they name.
"""

import argparse
import csv
import datetime
import fnmatch
import html
import json
import os
from pathlib import Path

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


def _link(target, text, reports_dir):
    target = Path(target)
    if not target.is_file():
        return html.escape(text)
    return f'<a href="{html.escape(os.path.relpath(target, reports_dir))}">{html.escape(text)}</a>'


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
    if result is None or result["status"] != "ran":
        return ""
    items, unmeasured = [], 0
    for _, row in published.table(question).iterrows():
        ours = result["ours"].get(row["metric"])
        if ours is None:
            unmeasured += 1
            continue
        items.append(f'<li><span class="metric">{html.escape(row["metric"])}</span> {_number(ours)} '
                     f'<span class="published">(published {_number(row["value"])}, difference {_difference(ours - row["value"])})</span></li>')
    if unmeasured:
        items.append(f'<li class="published">{unmeasured} published value{"s" * (unmeasured != 1)} not measured by this run</li>')
    return f'<ul class="numbers">{"".join(items)}</ul>'


def _status(record, result, report_link):
    if record is not None and record["status"] == "failed":
        return f'<span class="failed">failed</span>: {html.escape(record["error"] or "")} ({report_link} shows the failing cell)'
    if result is not None and result["status"] == "skipped":
        return f'<span class="skipped">skipped</span>: {html.escape(result.get("reason", ""))}'
    if record is not None or result is not None:
        return '<span class="ran">ran</span>'
    return '<span class="missing">not run</span>'


def _study_table(rows, records, results, reports_dir):
    lines = []
    for name, questions in rows:
        record = records.get(name) if name else None
        report = reports_dir / f"{name}.html" if name else None
        report_link = _link(report, "report", reports_dir) if name else "no notebook"
        profile = record["provenance"]["profile"] if record else None
        chosen = {q: results.get(q, {}).get(profile) if profile else latest(results.get(q, {})) for q in questions}
        if record is not None and record["status"] == "failed":
            chosen = {}
        profile = profile or next((r["profile"] for r in chosen.values() if r), "–")
        first = next((r for r in chosen.values() if r), None)
        wall = [f"notebook {record['seconds']:.1f} s"] if record else []
        for q, result in chosen.items():
            seconds, count = training_time(result)
            if count:
                wall.append(f"{q} training {seconds:.0f} s ({count} run{'s' * (count != 1)})")
        figures = record["figures"] if record else [str(p) for q in questions for p in sorted((paths.figure_dir() / q).rglob("*.png"))]
        figure_links = " · ".join(_link(path, _figure_name(path), reports_dir) for path in figures if Path(path).is_file())
        lines.append(
            f'<tr id="row-{html.escape(name or questions[0])}"><td>{_link(report, name, reports_dir) if name else "–"}</td>'
            f"<td>{html.escape(', '.join(questions) or '–')}</td><td>{_status(record, first, report_link)}</td>"
            f"<td>{html.escape(profile)}</td><td class=\"wall\">{'<br>'.join(map(html.escape, wall)) or '–'}</td>"
            f"<td>{''.join(_headline(q, r) for q, r in chosen.items())}</td><td class=\"figures\">{figure_links or '–'}</td></tr>"
        )
    return ("<table><thead><tr><th>notebook</th><th>question</th><th>status</th><th>profile</th><th>wall time</th>"
            "<th>headline numbers (ours, published, difference)</th><th>figures</th></tr></thead><tbody>"
            + "".join(lines) + "</tbody></table>")


def _reproduction_table(results):
    lines = []
    for _, row in published.table().iterrows():
        result = latest(results.get(row["question"], {}), prefer_full=True)
        label, css, stated = verdict(row["question"], row["metric"], row["value"], result)
        ours = None if result is None else result["ours"].get(row["metric"])
        difference = None if ours is None else ours - row["value"]
        source = "–" if result is None else f"{result['profile']}, {result['recorded']}"
        lines.append(
            f'<tr class="{css}"><td>{html.escape(row["question"])}</td><td>{html.escape(row["metric"])}</td>'
            f"<td>{_number(row['value'])}</td><td>{_number(ours)}</td><td>{_difference(difference)}</td>"
            f"<td>{html.escape(stated)}</td><td>{html.escape(label)}</td><td>{html.escape(source)}</td>"
            f"<td>{html.escape(str(row['note']))}</td></tr>"
        )
    return ('<table id="reproduction"><thead><tr><th>question</th><th>metric</th><th>published</th><th>ours</th>'
            "<th>difference</th><th>tolerance</th><th>check</th><th>our result (profile, recorded)</th><th>published note</th>"
            "</tr></thead><tbody>" + "".join(lines) + "</tbody></table>")


def _tolerance_rules():
    with open(TOLERANCES, newline="") as file:
        items = [f"<li><code>{html.escape(row['question'])}</code> / <code>{html.escape(row['metric'])}</code>: "
                 f"{html.escape(row['reason'])}</li>" for row in csv.DictReader(file)]
    return f"<ul>{''.join(items)}</ul>"


def _provenance_table(records):
    lines = []
    for name, record in sorted(records.items()):
        found = record["provenance"]
        training = found["training"]
        lines.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(record['status'])}</td><td>{html.escape(str(found['profile']))}</td>"
            f"<td>{html.escape(found['start'])} to {html.escape(found['end'])} ({found['seconds']:.1f} s)</td>"
            f"<td>{html.escape(reports.commit_text(found['git']))}</td><td>{html.escape(reports.backend_text(found))}</td>"
            f"<td>{html.escape(', '.join(map(str, training.get('seeds', []))) or '–')}</td><td>{training['runs']}</td></tr>"
        )
    return ('<table id="provenance"><thead><tr><th>notebook</th><th>status</th><th>profile</th><th>executed</th>'
            "<th>git commit</th><th>Keras, backend, device</th><th>seeds</th><th>training runs</th></tr></thead><tbody>"
            + "".join(lines) + "</tbody></table>")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
ul.numbers { margin: 0; padding-left: 1.1em; }
.published { color: #666; }
.failed, tr.outside td { color: #a40000; font-weight: bold; }
.within td:nth-child(7), .ran { color: #1a7f37; }
.skipped, tr.skipped td, tr.neutral td, tr.missing td { color: #666; }
td.figures { max-width: 28em; }
td.wall { white-space: nowrap; }
"""


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
    built = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    versions = ", ".join(f"{name} {version}" for name, version in reports.versions().items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Study reports</title><style>{_STYLE}</style></head>
<body>
<h1>Study reports</h1>
<p>Built {built} at commit {html.escape(reports.commit_text(machine.git_state()))} with {html.escape(versions)}.
Each notebook's report has its own provenance at the top; the table at the end repeats it.</p>
<h2>Studies</h2>
{_study_table(_rows(notebook_dir, records, results), records, results, reports_dir)}
<h2>Reproduction check</h2>
<p>Every published value beside our latest result for its question (the full-profile result when there is one).
Only full-profile results are compared: smoke and quick runs train on fewer epochs or images than the
published studies, so their differences say nothing about reproduction. Tolerances (lib/studies/tolerances.csv,
first matching row):</p>
{_tolerance_rules()}
{_reproduction_table(results)}
<h2>Provenance</h2>
{_provenance_table(records)}
</body></html>
"""
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
