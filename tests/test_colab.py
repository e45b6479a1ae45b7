"""Every notebook opens in Colab from a badge, after a setup cell that does nothing locally."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lib import paths
from lib.runner import colab

NOTEBOOKS = sorted((paths.ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_notebook_has_the_current_badge_and_setup_cell(notebook):
    assert colab.is_current(notebook), f"{notebook.name}: run `python -m lib.runner.colab` to add or refresh its Colab cells"
    cells = nbformat.read(notebook, as_version=4).cells
    assert f"/blob/{colab.BRANCH}/notebooks/{notebook.name})" in cells[0].source
    assert colab.REPOSITORY_URL in cells[1].source
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in cells) == 1


def test_update_is_idempotent_and_replaces_old_cells(tmp_path, monkeypatch):
    path = tmp_path / "x_q1_demo.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title", id="cell-0")])
    nbformat.write(notebook, path)
    assert colab.update(path) and not colab.update(path)
    assert colab.is_current(path)
    monkeypatch.setattr(colab, "REPOSITORY_URL", "https://github.com/someone/else")
    assert not colab.is_current(path)
    assert colab.update(path) and colab.is_current(path)
    cells = nbformat.read(path, as_version=4).cells
    assert [cell.id for cell in cells] == [colab.BADGE_ID, colab.SETUP_ID, "cell-0"]
    assert "colab.research.google.com/github/someone/else/blob/main/notebooks/x_q1_demo.ipynb" in cells[0].source


def test_check_lists_stale_notebooks(tmp_path, capsys):
    path = tmp_path / "x_q1_demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    assert colab.main(["--check", str(path)]) == 1
    assert f"not current: {path} (run python -m lib.runner.colab)" in capsys.readouterr().out
    assert colab.main([str(path)]) == 0 and colab.main(["--check", str(path)]) == 0


def test_setup_cell_does_nothing_outside_colab(tmp_path):
    source = colab.setup_source()
    compile(source, "setup", "exec")
    done = subprocess.run([sys.executable, "-c", source + "\nimport os; print(os.getcwd())"], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(tmp_path) and done.stderr == ""
    assert not any(Path(tmp_path).iterdir())


def test_requirements_for_colab_leave_out_jupyter_and_test_tools():
    needed = [line for line in (paths.ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith(("#", *colab._NOT_IN_COLAB))]
    assert any(line.startswith("tensorflow==") for line in needed)
    assert not any(line.startswith(("ipykernel", "jupyter", "pytest", "playwright")) for line in needed)
    assert all(f"'{name}'" in colab.setup_source() for name in colab._NOT_IN_COLAB)
