"""Every notebook opens in Colab from a badge, after a setup cell that does nothing locally.

Until the maintainer sets `colab.REPOSITORY_URL` there is no badge, and in
Colab the setup cell refuses to clone anything.
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lib import paths
from lib.runner import colab

NOTEBOOKS = sorted((paths.ROOT / "notebooks").glob("*.ipynb"))
PUBLISHED = "https://github.com/someone/else"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_notebook_has_the_current_badge_and_setup_cell(notebook):
    assert colab.is_current(notebook), f"{notebook.name}: run `python -m lib.runner.colab` to add or refresh its Colab cells"
    cells = nbformat.read(notebook, as_version=4).cells
    if colab.REPOSITORY_URL:
        assert f"/blob/{colab.BRANCH}/notebooks/{notebook.name})" in cells[0].source
        assert colab.REPOSITORY_URL in cells[1].source
    else:  # nothing names a repository, a guessable one least of all
        assert cells[0].id == colab.SETUP_ID and "raise RuntimeError" in cells[0].source
        assert "github.com" not in notebook.read_text()
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in cells) == 1


def test_update_is_idempotent_and_replaces_old_cells(tmp_path, monkeypatch):
    path = tmp_path / "x_q1_demo.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title", id="cell-0")])
    nbformat.write(notebook, path)
    monkeypatch.setattr(colab, "REPOSITORY_URL", None)
    assert colab.update(path) and not colab.update(path)
    assert colab.is_current(path)
    assert [cell.id for cell in nbformat.read(path, as_version=4).cells] == [colab.SETUP_ID, "cell-0"]  # no badge
    monkeypatch.setattr(colab, "REPOSITORY_URL", PUBLISHED)
    assert not colab.is_current(path)
    assert colab.update(path) and colab.is_current(path) and not colab.update(path)
    cells = nbformat.read(path, as_version=4).cells
    assert [cell.id for cell in cells] == [colab.BADGE_ID, colab.SETUP_ID, "cell-0"]
    assert "colab.research.google.com/github/someone/else/blob/main/notebooks/x_q1_demo.ipynb" in cells[0].source
    monkeypatch.setattr(colab, "REPOSITORY_URL", None)  # unpublished again: the badge goes
    assert colab.update(path) and [cell.id for cell in nbformat.read(path, as_version=4).cells] == [colab.SETUP_ID, "cell-0"]


@pytest.mark.parametrize("url", ["http://github.com/someone/else", "https://gitlab.com/someone/else", "someone/else",
                                 'https://github.com/someone/else"; import os; "', ""])
def test_repository_url_must_be_a_github_address(monkeypatch, url):
    monkeypatch.setattr(colab, "REPOSITORY_URL", url)
    with pytest.raises(ValueError, match=r"Invalid REPOSITORY_URL in lib/runner/colab.py: .* Expected the published repository's address"):
        colab.setup_source()


def test_check_lists_stale_notebooks(tmp_path, capsys):
    path = tmp_path / "x_q1_demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    assert colab.main(["--check", str(path)]) == 1
    assert f"not current: {path} (run python -m lib.runner.colab)" in capsys.readouterr().out
    assert colab.main([str(path)]) == 0 and colab.main(["--check", str(path)]) == 0


@pytest.mark.parametrize("url", [None, PUBLISHED])
def test_setup_cell_does_nothing_outside_colab(tmp_path, monkeypatch, url):
    monkeypatch.setattr(colab, "REPOSITORY_URL", url)
    source = colab.setup_source()
    compile(source, "setup", "exec")
    done = subprocess.run([sys.executable, "-c", source + "\nimport os; print(os.getcwd())"], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(tmp_path) and done.stderr == ""
    assert not any(Path(tmp_path).iterdir())


def test_setup_cell_refuses_to_clone_in_colab_until_the_address_is_set(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "REPOSITORY_URL", None)
    in_colab = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    done = subprocess.run([sys.executable, "-c", in_colab + colab.setup_source()], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and "RuntimeError: This notebook's repository has no published address yet" in done.stderr
    assert "set REPOSITORY_URL to the repository you trust and run `python -m lib.runner.colab`" in done.stderr
    assert "subprocess" not in colab.setup_source() and not any(Path(tmp_path).iterdir())


def test_requirements_for_colab_leave_out_jupyter_and_test_tools(monkeypatch):
    monkeypatch.setattr(colab, "REPOSITORY_URL", PUBLISHED)
    needed = [line for line in (paths.ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith(("#", *colab._NOT_IN_COLAB))]
    assert any(line.startswith("tensorflow==") for line in needed)
    assert not any(line.startswith(("ipykernel", "jupyter", "pytest", "playwright")) for line in needed)
    assert all(f"'{name}'" in colab.setup_source() for name in colab._NOT_IN_COLAB)
