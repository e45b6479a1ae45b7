"""Open in Colab: a badge and a setup cell at the top of every notebook.

    python -m lib.runner.colab           # add or refresh them in every notebook in notebooks/ (idempotent)
    python -m lib.runner.colab --check   # list the notebooks whose cells are not current; exit 1 if any

`REPOSITORY_URL` and `BRANCH` below are the one place that names the public
repository: the badges link to it and the setup cells clone it. Change them
there and run `python -m lib.runner.colab`. The setup cell does nothing outside
Colab; in Colab it clones the repository, installs requirements.txt (less the
Jupyter packages Colab's runtime provides and the test tools) and the
repository itself in editable mode (so `lib` imports), moves into notebooks/ and
sets DATA_DIR, where the data loaders download each data set on first use
and check its sha256. Both cells carry the tag `colab`, so the rendered
reports leave them out (reports.py).
"""

import argparse
import json
import sys
from pathlib import Path

import nbformat

from lib import paths
from lib.runner import reports

REPOSITORY_URL = "https://github.com/cz4042-studies/keras-studies"  # placeholder until the repository is published
BRANCH = "main"
TAG = reports.HIDDEN_TAG
BADGE_ID, SETUP_ID = "colab-badge", "colab-setup"
# Not installed in Colab: its runtime provides the Jupyter packages (other
# versions break its kernel) and the tests do not run there.
_NOT_IN_COLAB = ("ipykernel", "jupyter", "pytest", "playwright")


def badge_source(name):
    """Markdown of the "Open in Colab" badge of notebook `name` (e.g. "a_q1_cnn")."""
    owner_repo = REPOSITORY_URL.removeprefix("https://github.com/").removesuffix(".git")
    url = f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/notebooks/{name}.ipynb"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def setup_source():
    """Code of the setup cell: clone, install and set the data folder in Colab; nothing elsewhere."""
    folder = "/content/" + REPOSITORY_URL.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return f"""# In Colab only (elsewhere this cell does nothing): fetch the repository and its requirements.
import os, subprocess, sys
if "google.colab" in sys.modules:
    if not os.path.isdir("{folder}"):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{BRANCH}", "{REPOSITORY_URL}", "{folder}"], check=True)
        with open("{folder}/requirements.txt") as file:
            needed = [line.strip() for line in file if line.strip() and not line.startswith({("#", *_NOT_IN_COLAB)!r})]
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *needed], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", "{folder}"], check=True)
        print("Installed the requirements. If an import fails, restart the session (Runtime menu) and run all cells again.")
    if "{folder}" not in sys.path:
        sys.path.insert(0, "{folder}")  # the editable install serves sessions started after it
    os.chdir("{folder}/notebooks")
    os.environ.setdefault("DATA_DIR", "/content/data")  # data sets download here on first use, checked by sha256"""


def _cells(name):
    badge = nbformat.v4.new_markdown_cell(badge_source(name), id=BADGE_ID, metadata={"tags": [TAG]})
    setup = nbformat.v4.new_code_cell(setup_source(), id=SETUP_ID, metadata={"tags": [TAG]})
    return [badge, setup]


def update(path):
    """Put the current badge and setup cell first in the notebook at `path`.

    Earlier versions of them (cells tagged `colab`) are removed first, so
    running it again changes nothing.

    Returns:
        True if the file changed.
    """
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    before = json.dumps(notebook, sort_keys=True)
    notebook.cells = _cells(path.stem) + [cell for cell in notebook.cells if TAG not in cell.metadata.get("tags", [])]
    if json.dumps(notebook, sort_keys=True) == before:
        return False
    nbformat.write(notebook, path)
    return True


def is_current(path):
    """Whether the notebook at `path` starts with the current badge and setup cell (and has no others)."""
    path = Path(path)
    cells = nbformat.read(path, as_version=4).cells
    expected = _cells(path.stem)
    tagged = [cell for cell in cells if TAG in cell.metadata.get("tags", [])]
    return len(tagged) == 2 and all(
        found.id == wanted.id and found.cell_type == wanted.cell_type and found.source == wanted.source
        for found, wanted in zip(cells[:2], expected)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lib.runner.colab", description="Add or refresh the Colab badge and setup cell.")
    parser.add_argument("--check", action="store_true", help="only list notebooks that are not current; exit 1 if any")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    args = parser.parse_args(argv)
    targets = args.notebooks or sorted((paths.ROOT / "notebooks").glob("*.ipynb"))
    if args.check:
        stale = [path for path in targets if not is_current(path)]
        for path in stale:
            print(f"not current: {path} (run python -m lib.runner.colab)")
        return 1 if stale else 0
    for path in targets:
        print(f"{'updated' if update(path) else 'current'}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
