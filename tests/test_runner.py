"""The runner executes real notebooks with papermill, as `make all` does."""

import json
import os
from pathlib import Path

import nbformat
import pytest

from lib import runner

FIXTURES = Path(__file__).parent / "notebooks"


def _main(tmp_path, *argv):
    return runner.main(["--reports-dir", str(tmp_path / "reports"), "--quiet", *argv])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--profile", "fast"], "error: Unknown profile: 'fast'. Expected one of ('smoke', 'quick', 'full')."),
        (["--only", "a_q9"], "error: Unknown notebook: 'a_q9'. Expected one of ("),
        (["-p", "epoch=3"], "error: Unknown parameter 'epoch' for notebook a_q1_cnn. Valid parameters: profile, data_dir, epochs, seed."),
        (["-p", "3=epochs"], "error: Invalid parameter: '3=epochs'. Expected name=value, e.g. seed=1."),
        (["-p", "profile='smoke'"], "error: Set profile with --profile, not -p profile=..."),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    assert _main(tmp_path, *argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_failed_notebook_still_gets_a_report_and_the_run_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", FIXTURES)
    assert _main(tmp_path, "--profile", "smoke") == 1
    out = capsys.readouterr().out
    assert "fails" in out and "failed" in out and "ValueError: deliberate failure" in out
    assert "0 passed, 1 failed" in out
    html = (tmp_path / "reports" / "fails.html").read_text()
    assert "deliberate failure" in html and "before the failure" in html

    assert _main(tmp_path, "--profile", "smoke", "-p", "fail=False") == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


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
    table = next(cell for cell in notebook.cells if "comparison\n" in cell.source + "\n")
    html_table = table.outputs[0]["data"]["text/html"]
    assert "0.5475" in html_table and f"{history['final']['test_accuracy']:.6f}" in html_table

    written = history_file.stat().st_mtime_ns
    assert _main(outputs, *argv) == 0
    assert history_file.stat().st_mtime_ns == written  # cached: nothing retrained
