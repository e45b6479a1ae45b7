"""reports/index.html from hand-made histories, results and runner records; and what a report shows of this machine."""

import datetime
import html
import html.parser
import json
import re
from pathlib import Path

import nbformat
import pytest

from lib import files, paths
from lib.runner import reports
from lib.runner import index as report_index
from lib.studies import reproduction


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img" and "src" in attrs:
            self.links.append(attrs["src"])


def links(page):
    parser = _Links()
    parser.feed(page)
    return parser.links


def row(page, name):
    match = re.search(rf'<tr id="row-{name}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {name}"
    return re.sub(r"<[^>]+>", " ", match.group(1))


def _history(path, accuracies, wall_time_s, seed=0):
    n = len(accuracies)
    files.write_json(path, {
        "config": {"seed": seed}, "status": "complete", "epoch": list(range(1, n + 1)), "epoch_time_s": [1.0] * n,
        "metrics": {"test_accuracy": accuracies, "accuracy": accuracies, "test_loss": [1.0] * n, "loss": [1.0] * n},
        "final": {"test_accuracy": accuracies[-1], "accuracy": accuracies[-1], "test_loss": 1.0, "loss": 1.0}, "wall_time_s": wall_time_s,
        "provenance": {"device": "CPU: test", "backend": "tensorflow", "git": {"commit": "abc", "dirty": False},
                       "start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T00:01:00+00:00"},
    })
    return str(path)


def _results(root, question, profile, content, recorded="2026-01-01T00:00:00+00:00"):
    # The checks a notebook saves with its numbers (lib/studies/results.py), for 1000-epoch runs.
    shortfall = "smoke profile: a few images and epochs" if profile == "smoke" else None
    checks = reproduction.value_checks(question, content.get("ours", {}), 1000, shortfall=shortfall) if content["status"] == "ran" else []
    files.write_json(root / "results" / profile / f"{question}.json",
                     {"question": question, "profile": profile, "recorded": recorded, "histories": [], "ours": {}, "checks": checks, **content})


def _record(reports_dir, name, status, error=None, questions=(), figures=()):
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    found = reports.provenance(start, start + datetime.timedelta(seconds=12), {"profile": "full", "data_dir": ""},
                               {"read": [], "write": [], "list": []},
                               {"keras": "3", "backend": "tensorflow", "backend_version": "2", "device": "CPU: test", "threads": 2})
    files.write_json(reports_dir / f"{name}.run.json", {
        "notebook": name, "status": status, "error": error, "seconds": 12.0, "provenance": found,
        "questions": list(questions), "figures": [str(f) for f in figures], "inputs": None, "files": {},
    })


@pytest.fixture
def site(outputs):
    """Notebooks, histories, results and runner records as a run would leave them."""
    notebooks = outputs / "notebooks"
    notebooks.mkdir()
    for name in ("a_q1_cnn", "a_q2_grid", "a_x_full_data", "b_q1_new"):
        (notebooks / f"{name}.ipynb").write_text("{}")
    histories, figures, reports_dir = outputs / "history_dir", outputs / "figure_dir", outputs / "reports"
    runs = [_history(histories / "a" / "k1.json", [0.3, 0.54], 100.0, seed=0),
            _history(histories / "a" / "k2.json", [0.3, 0.55], 50.5, seed=1)]
    _results(histories, "a_q1", "full", {"status": "ran", "histories": runs, "ours": {
        "test_accuracy_final": 0.54, "test_accuracy_late_mean": 0.60, "test_accuracy_epoch_50": None, "wall_time_s": 150.5}})
    _results(histories, "a_q1", "smoke", {"status": "ran", "ours": {"test_accuracy_final": 0.1}}, recorded="2026-02-01T00:00:00+00:00")
    _results(histories, "a_q2", "smoke", {"status": "ran", "ours": {"test_accuracy_final_best": 0.2}})
    _results(histories, "a_q3", "full", {"status": "ran", "ours": {"adam_test_accuracy_final": 0.5}})
    _results(histories, "a_full_data", "full", {"status": "skipped", "reason": "batches 2-5 missing"})
    figure = figures / "a_full_data" / "cost.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"png")
    (figures / "a_q1").mkdir()
    (figures / "a_q1" / "accuracy.png").write_bytes(b"png")
    reports_dir.mkdir()
    _record(reports_dir, "a_q2_grid", "failed", error="ValueError: boom")
    _record(reports_dir, "a_x_full_data", "ok", questions=["a_full_data"], figures=[figure])
    for name in ("a_q2_grid", "a_x_full_data"):
        (reports_dir / f"{name}.html").write_text("<html></html>")
    page = report_index.build(reports_dir, notebooks).read_text()
    return page, reports_dir


def test_index_lists_every_notebook_and_question_with_status(site):
    page, _ = site
    assert "ran" in row(page, "a_q1_cnn")
    assert "failed" in row(page, "a_q2_grid") and "ValueError: boom" in row(page, "a_q2_grid")
    assert "0.2000" not in row(page, "a_q2_grid")  # a failed run shows no numbers
    assert "skipped" in row(page, "a_x_full_data") and "batches 2-5 missing" in row(page, "a_x_full_data")
    assert "not run" in row(page, "b_q1_new")
    assert "a_q3" in row(page, "a_q3")  # a question no notebook claims still gets its row


def test_index_numbers_match_the_histories_and_results(site):
    page, _ = site
    q1 = row(page, "a_q1_cnn")
    # Without a runner record the latest result shows: the smoke one, recorded after the full one.
    assert "smoke" in q1 and "0.1000" in q1 and "published 0.5475, difference −0.4475" in q1
    q3 = row(page, "a_q3")
    assert "0.5000" in q3 and "published 0.4960, difference +0.0040" in q3
    assert "notebook 12.0 s" in row(page, "a_x_full_data")


def test_training_time_sums_the_histories(site):
    full = json.loads((Path(site[1]).parent / "history_dir" / "results" / "full" / "a_q1.json").read_text())
    assert report_index.training_time(full) == (150.5, 2, [])  # no damaged history


def check_rows(page):
    """{(question, metric): (css class, text)} of the reproduction check; (question, "header") gives ("open" or "folded", its summary)."""
    found = {}
    for question, folded, body in re.findall(r'<section id="check-([^"]+)" class="checks"><details( open)?>(.*?)</section>', page, re.S):
        summary = re.search(r"<summary>(.*?)</summary>", body, re.S).group(1)
        found[(question, "header")] = ("open" if folded else "folded", " ".join(re.sub(r"<[^>]+>", " ", summary).split()))
        for css, metric, cells in re.findall(r'<tr class="([^"]+)" data-question="[^"]+" data-metric="([^"]+)">(.*?)</tr>', body, re.S):
            found[(question, html.unescape(metric))] = (css, " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cells)).split()))
    return found


def test_reproduction_check_shows_each_questions_saved_checks(site):
    page, _ = site
    rows = check_rows(page)
    assert rows[("a_q1", "test_accuracy_final")] == ("within", rows[("a_q1", "test_accuracy_final")][1])  # 0.54 vs 0.5475, ±0.03
    assert "Q1 (50/60, SGD): test accuracy, final epoch" in rows[("a_q1", "test_accuracy_final")][1]
    assert rows[("a_q1", "test_accuracy_final")][1].endswith("reproduced")
    assert "full, 2026-01-01" in rows[("a_q1", "header")][1]  # the full result, not the later smoke one
    assert rows[("a_q1", "test_accuracy_late_mean")][0] == "outside"  # 0.60 vs 0.5461
    assert rows[("a_q1", "test_accuracy_epoch_50")][1].endswith("not comparable yet not measured under this profile")
    assert "not comparable yet smoke profile" in rows[("a_q2", "test_accuracy_final_best")][1]
    assert rows[("a_full_data", "test_accuracy_final")][0] == "skipped" and "batches 2-5 missing" in rows[("a_full_data", "test_accuracy_final")][1]
    assert rows[("b_q1", "wall_time_s")][0] == "missing" and rows[("b_q1", "wall_time_s")][1].startswith("wall time (s)")  # a bare key, worded


def test_reproduction_check_folds_each_reason_and_what_is_not_comparable_yet(site):
    page, _ = site
    row = re.search(r'<tr class="neutral" data-question="a_q2" data-metric="test_accuracy_final_best">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r"<details><summary>not comparable yet</summary>smoke profile[^<]*</details>", row), row
    rows = check_rows(page)
    assert rows[("a_q1", "header")][0] == "open"  # one reproduced, one not
    assert rows[("a_q2", "header")] == ("folded", "a_q2 our result: smoke, 2026-01-01T00:00:00+00:00 · 2 not comparable yet")


def test_summary_counts_notebooks_and_checks(site):
    page, _ = site
    summary = " ".join(re.sub(r"<[^>]+>", " ", re.search(r'<section id="summary"[^>]*>(.*?)</section>', page, re.S).group(1)).split())
    rows = check_rows(page)
    checks = [css for key, (css, _) in rows.items() if key[1] != "header"]
    # Four notebooks: a_x_full_data skipped (its question's result), a_q2_grid failed, a_q1_cnn ran (no record, a result), b_q1_new never ran.
    assert "Notebooks (4) 1 ran · 1 failed · 1 skipped · 1 not run" in summary
    assert f"Published numbers ({len(checks)})" in summary
    for css, word in report_index.CHECK_CLASSES.items():
        assert f"{checks.count(css)} {word}" in summary
    assert checks.count("within") >= 1 and checks.count("outside") >= 1  # the fixture has both, so the counts are tested
    assert "Profile smoke (1 notebook), full (2 notebooks)" in summary  # a_q1_cnn's latest result, and two records


def test_one_status_word_per_notebook_in_every_table(site):
    page, _ = site
    table = re.search(r'<table id="provenance">(.*?)</table>', page, re.S).group(1)
    provenance = {cells[0]: cells[1] for cells in (re.findall(r"<td>(.*?)</td>", line) for line in table.split("<tr>")[2:])}
    assert provenance == {"a_q2_grid": "failed", "a_x_full_data": "skipped"}  # its record says "ok": the notebook ran and skipped
    assert row(page, "a_x_full_data").split()[2] == "skipped"  # after the notebook and its question


@pytest.mark.parametrize("seeds, expected", [([0], "seed 0"), ([0, 1, 2], "seeds 0, 1, 2"), ([], "no seeds (no training runs)")])
def test_seeds_never_read_as_a_count(seeds, expected):
    assert reports.seeds_text(seeds) == expected


def test_every_link_resolves_to_a_file(site):
    page, reports_dir = site
    found = links(page)
    assert "a_q2_grid.html" in found and "a_x_full_data.html" in found
    assert "../figure_dir/a_full_data/cost.png" in found and "../figure_dir/a_q1/accuracy.png" in found
    for link in found:
        if link.startswith("#"):  # within the page
            assert f'id="{link[1:]}"' in page, link
        else:
            assert (reports_dir / link).is_file(), link


def test_index_shows_provenance(site):
    page, _ = site
    table = re.search(r'<table id="provenance">(.*?)</table>', page, re.S).group(1)
    assert "a_q2_grid" in table and "Keras 3, tensorflow backend 2, on CPU: test (2 threads)" in table
    assert "2026-01-01T00:00:00+00:00 to 2026-01-01T00:00:12+00:00 (12.0 s)" in table
    assert re.search(r"Built .* at commit ([0-9a-f]{10}|unknown)", page)


def test_damaged_records_results_and_histories_are_named_in_their_rows(site):
    _, reports_dir = site
    histories, notebooks = reports_dir.parent / "history_dir", reports_dir.parent / "notebooks"
    (reports_dir / "a_q1_cnn.run.json").write_text('{"notebook": "a_q1_cnn", "status": "o')  # a truncated write
    (reports_dir / "b_q1_new.run.json").write_text('{"status": "ok"}')
    (histories / "results" / "smoke" / "a_q2.json").write_text('{"question": "a_q2", "prof')
    truncated = histories / "a" / "k3.json"
    truncated.write_text('{"config": {"seed": 0}, "epo')
    _results(histories, "a_q3", "full", {"status": "ran", "histories": [str(truncated)], "ours": {"adam_test_accuracy_final": 0.5}})
    page = report_index.build(reports_dir, notebooks).read_text()

    def damaged(name):
        text = row(page, name)
        assert "damaged" in text.split(":")[0], text
        return text

    assert f"{reports_dir / 'a_q1_cnn.run.json'}: not valid JSON (Unterminated string" in damaged("a_q1_cnn")
    assert f"{reports_dir / 'b_q1_new.run.json'}: lacks error, seconds, questions, figures, provenance" in damaged("b_q1_new")
    assert f"{histories / 'results' / 'smoke' / 'a_q2.json'}: not valid JSON" in damaged("a_q2_grid")
    assert f"History file {truncated} is not valid JSON" in damaged("a_q3")
    assert "skipped" in row(page, "a_x_full_data") and 'id="reproduction"' in page  # the rest as before
    assert report_index.main(["--reports-dir", str(reports_dir)]) == 0  # make report


@pytest.mark.parametrize("content, expected", [
    ({"question": "a_q1", "profile": "full"}, "lacks recorded, status, ours, histories"),
    ({"question": "a_q9", "profile": "full", "recorded": "", "status": "ran", "ours": {}, "histories": []}, "holds question 'a_q9'"),
    ({"question": "a_q1", "profile": "full", "recorded": "", "status": "done", "ours": {}, "histories": []}, "status is \"done\"; expected one of ('ran', 'skipped')"),
    ({"question": "a_q1", "profile": "full", "recorded": "", "status": "ran", "ours": {"x": "0.5"}, "histories": []}, "neither a number nor null"),
    ({"question": "a_q1", "profile": "full", "recorded": "", "status": "ran", "ours": {}, "histories": [1]}, "histories holds 1; expected only str"),
])
def test_a_result_that_lacks_what_the_index_reads_is_damaged(outputs, content, expected):
    files.write_json(outputs / "history_dir" / "results" / "full" / "a_q1.json", content)
    results, damaged = report_index.load_results()
    assert results == {} and list(damaged) == ["a_q1"] and expected in damaged["a_q1"][0]


def test_a_report_shows_no_path_of_this_machine(tmp_path):
    data_dir, history = str(tmp_path / "course-data"), str(paths.ROOT / "histories" / "a" / "k.json")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f'# Parameters\nprofile = "smoke"\ndata_dir = "{data_dir}"\nfail = False\n',
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("print(...)", outputs=[nbformat.v4.new_output("stream", name="stdout", text=f"read {data_dir}/x, cached: {history}\n")]),
    ])
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    found = reports.provenance(start, start, {"profile": "smoke", "data_dir": data_dir, "fail": False}, {"read": [], "write": [], "list": []})
    reports.render(executed, tmp_path / "report.html", found)
    text = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "report.html").read_text()))
    assert str(tmp_path) not in text and str(paths.ROOT) not in text
    assert 'data_dir = "…/course-data"' in text and "fail = False" in text  # the other parameters as papermill wrote them
    assert "read …/course-data/x, cached: histories/a/k.json" in text
    assert "data_dir='…/course-data'" in text  # the provenance too
    assert data_dir in executed.read_text()  # the executed notebook keeps them


def test_a_report_shows_progress_bars_as_a_terminal_does_and_folds_long_logs(tmp_path):
    updates = [nbformat.v4.new_output("stream", name="stdout", text=f"\r[run {run}] epoch {epoch}/3") for run in range(14) for epoch in (1, 2, 3)]
    updates = [output for run in range(14) for output in (*updates[3 * run:3 * run + 3], nbformat.v4.new_output("stream", name="stdout", text="\n"))]
    short = [nbformat.v4.new_output("stream", name="stdout", text="\r[alone] epoch 1/2\r[alone] epoch 2/2\n")]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("train()", outputs=updates),
                                               nbformat.v4.new_code_cell("train_one()", outputs=short)])
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    reports.render(executed, tmp_path / "report.html", reports.provenance(start, start, {}, {"read": [], "write": [], "list": []}))
    page = (tmp_path / "report.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert [text.count(f"[run {run}] epoch 3/3") for run in range(14)] == [1] * 14 and "epoch 2/3" not in text
    assert "printed output (14 lines)" in page and page.count('class="log"') == 1  # the short one stays open
    assert "[alone] epoch 2/2" in text and "[alone] epoch 1/2" not in text
