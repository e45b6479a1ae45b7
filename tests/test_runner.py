"""The runner executes real notebooks with papermill, as `make all` does."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lib.runner import execute
from lib.studies import a as study_a

FIXTURES = Path(__file__).parent / "notebooks"


def _main(tmp_path, *argv):
    return execute.main(["--reports-dir", str(tmp_path / "reports"), "--quiet", *argv])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--profile", "fast"], "error: Unknown profile: 'fast'. Expected one of ('auto', 'smoke', 'quick', 'full')."),
        (["--only", "a_q9"], "error: Unknown notebook: 'a_q9'. Expected one of ("),
        (["-p", "epoch=3"], "error: Unknown parameter 'epoch' for notebook a_q1_cnn. Valid parameters: profile, data_dir, epochs, seed."),
        (["-p", "3=epochs"], "error: Invalid parameter: '3=epochs'. Expected name=value, e.g. seed=1."),
        (["-p", "profile='smoke'"], "error: Set profile with --profile, not -p profile=..."),
        (["-p", "jobs=2"], "error: Set jobs with --jobs, not -p jobs=..."),
        (["--jobs", "0"], "error: Invalid value for --jobs. Received: 0. Expected a positive integer."),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    assert _main(tmp_path, *argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_failed_notebook_still_gets_a_report_and_the_run_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", FIXTURES)
    assert _main(tmp_path, "--profile", "smoke", "--only", "fails") == 1
    out = capsys.readouterr().out
    assert "fails" in out and "failed" in out and "ValueError: deliberate failure" in out
    assert "0 passed, 1 failed (0 up to date)" in out
    html = (tmp_path / "reports" / "fails.html").read_text()
    assert "deliberate failure" in html and "before the failure" in html

    assert _main(tmp_path, "--profile", "smoke", "--only", "fails", "-p", "fail=False") == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_diverged_run_is_reported_and_the_suite_goes_on(outputs, tiny_cifar, monkeypatch, capsys):
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", FIXTURES)
    assert _main(outputs, "--profile", "smoke", "--data-dir", str(tiny_cifar), "--only", "diverges") == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    html = (outputs / "reports" / "diverges.html").read_text()
    assert "1 of 1 seeds" in html and "after the diverged run" in html
    [path] = (outputs / "history_dir" / "a").glob("*.json")
    assert json.loads(path.read_text())["status"] == "diverged"


def test_q1_notebook_smoke_report_figures_and_cache(outputs, capsys):
    data_dir = os.environ.get("DATA_DIR", "")
    argv = ["--profile", "smoke", "--data-dir", data_dir, "--only", "a_q1_cnn"]
    assert _main(outputs, *argv) == 0, capsys.readouterr()

    reports = outputs / "reports"
    assert (reports / "a_q1_cnn.html").stat().st_size > 50_000  # figures are embedded
    figures = outputs / "figure_dir" / "a_q1"
    expected = ["cost.png", "accuracy.png", "test_image_0.png", "test_image_1.png"]
    expected += [f"feature_maps_{i}/{j}_{layer}.png" for i in (0, 1) for j, layer in enumerate(["C1", "S1", "C2", "S2"])]
    for name in expected:
        assert (figures / name).stat().st_size > 1000, name

    [history_file] = (outputs / "history_dir" / "a").glob("*.json")
    history = json.loads(history_file.read_text())
    assert history["provenance"]["profile"] == "smoke" and len(history["epoch"]) == 2
    notebook = nbformat.read(reports / "a_q1_cnn.ipynb", as_version=4)
    assert notebook.metadata.papermill.parameters["profile"] == "smoke"
    table = next(cell for cell in notebook.cells if "results.record(" in cell.source)
    html_table = table.outputs[0]["data"]["text/html"]
    cells = [float(value) for value in re.findall(r"<td[^>]*>\s*(-?[0-9.]+)\s*</td>", html_table)]
    assert 0.5475 in cells  # published beside ours
    assert any(abs(value - history["final"]["test_accuracy"]) < 5e-4 for value in cells)  # shown to 4 significant digits

    written = history_file.stat().st_mtime_ns
    assert _main(outputs, *argv) == 0
    assert history_file.stat().st_mtime_ns == written  # cached: nothing retrained


def test_study_a_q2_to_q4_smoke_reports(outputs, capsys):
    data_dir = os.environ.get("DATA_DIR", "")
    notebooks = ["a_q2_grid", "a_q3_variants", "a_q4_compare", "a_x_full_data"]
    assert _main(outputs, "--profile", "smoke", "--data-dir", data_dir, "--only", *notebooks) == 0, capsys.readouterr()
    reports = outputs / "reports"
    for name in notebooks:
        assert (reports / f"{name}.html").is_file(), name

    best = json.loads((outputs / "history_dir" / "a" / "q2_best_smoke.json").read_text())
    assert best["picked_by"] == "test_accuracy_late_mean" and best["c1"] in (10, 30, 50, 70, 90)
    configs = [json.loads(p.read_text())["config"] for p in (outputs / "history_dir" / "a").glob("*.json") if "q2_best" not in p.name]
    variants = [c for c in configs if c["optimizer"] != "sgd" or c["momentum"] or "dropout" in c["model_kwargs"]]
    grid = [(c["model_kwargs"]["c1"], c["model_kwargs"]["c2"]) for c in configs if c not in variants and c["seed"] == 0]
    assert sorted(grid) == [(c1, c2) for c1 in study_a.C1_CHANNELS for c2 in study_a.C2_CHANNELS]
    assert len(variants) == 4  # Q3 trains the published pair, so its curves can be set beside the published ones
    assert all((c["model_kwargs"]["c1"], c["model_kwargs"]["c2"]) == study_a.PUBLISHED_PAIR for c in variants)
    extra = [(c["model_kwargs"]["c1"], c["model_kwargs"]["c2"]) for c in configs if c not in variants and c["seed"] > 0]
    assert (best["c1"], best["c2"]) in extra and len(configs) == 25 + 4 + len(extra)  # Q4 trained nothing new

    q3 = (reports / "a_q3_variants.html").read_text()
    assert "Q3 trains C1={}, C2={} (published pair)".format(*study_a.PUBLISHED_PAIR) in q3
    figures = outputs / "figure_dir"
    for name in ["a_q2/heatmap_late_mean.png", "a_q2/test_accuracy_curves.png", "a_q3/adam_cost.png", "a_q4/test_accuracy.png"]:
        assert (figures / name).stat().st_size > 1000, name
    full_data = (reports / "a_x_full_data.html").read_text()
    assert "Skipped:" in full_data or "0.636" in full_data


def test_up_to_date_notebooks_are_not_executed_again(outputs, monkeypatch, capsys):
    notebooks = outputs / "notebooks"
    notebooks.mkdir()
    notebook = notebooks / "reads_input.ipynb"
    notebook.write_text((FIXTURES / "reads_input.ipynb").read_text())
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", notebooks)
    report = outputs / "reports" / "reads_input.html"
    value = outputs / "history_dir" / "inputs" / "value.json"

    def run(*extra):
        assert _main(outputs, "--profile", "smoke", "--only", "reads_input", *extra) == 0
        out = capsys.readouterr().out
        executed = "reads_input: ok" in out
        assert executed != ("reads_input: up to date" in out), out
        return executed

    assert run() and "value absent" in report.read_text()
    assert not run()
    value.parent.mkdir(parents=True)
    value.write_text("1")  # the file it looked for and did not find
    assert run() and "value 1" in report.read_text()
    assert not run()
    value.write_text("1")  # rewritten with the same content: a new time is no change
    assert not run()
    value.write_text("2")
    assert run() and "value 2" in report.read_text()
    assert run("-p", "label='second'") and "label second" in report.read_text()
    assert not run("-p", "label='second'")
    assert run("--force")
    report.unlink()
    assert run() and report.is_file()
    notebook.write_text(notebook.read_text().replace("label {label}", "label: {label}"))
    assert run() and "label: first" in report.read_text()
    record = json.loads(execute.record_path(outputs / "reports", "reads_input").read_text())
    assert record["status"] == "ok" and str(value) in record["files"]


def test_failed_notebooks_run_again_and_are_listed_in_the_index(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", FIXTURES)
    for _ in range(2):
        assert _main(tmp_path, "--profile", "smoke", "--only", "fails") == 1
        assert "fails: failed" in capsys.readouterr().out
    index = (tmp_path / "reports" / "index.html").read_text()
    assert '<a href="fails.html">report</a> shows the failing cell' in index


def test_output_goes_to_the_log_and_streams_with_verbose_without_papermill_cell_lines(tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", FIXTURES)
    logger = logging.getLogger("papermill")
    monkeypatch.setattr(logger, "filters", [])
    argv = ["--reports-dir", str(tmp_path / "reports"), "--profile", "smoke", "--only", "fails", "-p", "fail=False", "--force"]
    with caplog.at_level(logging.INFO, logger="papermill"):
        assert execute.main(argv) == 0
        assert not any("before the failure" in record.getMessage() for record in caplog.records)
        assert "before the failure" not in capsys.readouterr().out
        assert (tmp_path / "reports" / "fails.log").read_text() == "before the failure\n"
        assert execute.main([*argv, "--verbose"]) == 0
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("papermill")]
    assert any("before the failure" in message for message in messages)
    assert not any(message.startswith(("Executing Cell", "Ending Cell", "Input Notebook")) for message in messages)


@pytest.mark.parametrize("message, shown", [
    ("Executing Cell 3---------------------------------------", False),
    ("<Figure size 640x400 with 1 Axes>", False),
    ("<IPython.core.display.Markdown object>", False),
    ("[a/32b0da114094bf5f] epoch 1/2 |##########          | 3.24s/epoch, ETA 00:03, accuracy 0.1250 loss 2.3124", True),
    ("train (200, 32, 32, 3), test (100, 32, 32, 3)", True),
])
def test_quiet_filter_keeps_progress_lines(message, shown):
    record = logging.LogRecord("papermill", logging.INFO, __file__, 0, message, None, None)
    assert execute._QUIET.filter(record) == shown


def test_an_interrupted_run_leaves_no_stamp(tmp_path, monkeypatch):
    import papermill

    reports_dir = tmp_path / "reports"
    reports_dir.mkdir()
    record = execute.record_path(reports_dir, "fails")
    record.write_text('{"status": "ok"}')

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        execute.run_notebook(FIXTURES / "fails.ipynb", {"profile": "smoke"}, reports_dir)
    found = json.loads(record.read_text())
    assert (found["status"], found["error"], found["inputs"]) == ("interrupted", "KeyboardInterrupt", None)
    assert execute.stale_reason(FIXTURES / "fails.ipynb", "any", reports_dir) == "its last run was interrupted"


def test_the_notebook_machinery_starts_without_keras():
    # The runner and `make report` read lib.studies but never import Keras (nor
    # scikit-learn, which Keras and lib.core.evaluate pull in): they start in a
    # fraction of a second when every report is up to date.
    heavy = ("keras", "tensorflow", "jax", "torch", "sklearn")
    code = f"import sys, lib.runner.execute, lib.runner.index; print(sorted(set(sys.modules) & {set(heavy)!r}))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
