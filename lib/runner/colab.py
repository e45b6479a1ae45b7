"""Open in Colab: a badge and a setup cell at the top of every notebook.

    python -m lib.runner.colab           # add or refresh them in every notebook in notebooks/ (idempotent)
    python -m lib.runner.colab --check   # list the notebooks whose cells are not current; exit 1 if any

`REPOSITORY_URL` and `BRANCH` below are the one place that names the public
repository: the badges link to it and the setup cells clone it. The maintainer
sets them when publishing and runs `python -m lib.runner.colab`. Until then
`REPOSITORY_URL` is None: no badge, and in Colab the setup cell stops with an
explanation instead of cloning, since a guessed address could be registered by
anyone, and every Colab user would then install and run their code.

The setup cell does nothing outside Colab; in Colab it clones the repository,
installs requirements.txt (less the Jupyter packages Colab's runtime provides
and the test tools) and the repository itself in editable mode (so `lib`
imports), moves into notebooks/ and sets DATA_DIR, where the data loaders
download each data set on first use and check its sha256. On a GPU runtime it
chooses the JAX backend, and says so. The cells carry the tag `colab`, so the
rendered reports leave them out (reports.py).
"""

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

from lib import paths
from lib.runner import reports

REPOSITORY_URL = None  # e.g. "https://github.com/<owner>/<name>": set it when the repository is published
BRANCH = "main"
TAG = reports.HIDDEN_TAG
BADGE_ID, SETUP_ID = "colab-badge", "colab-setup"
# Not installed in Colab: its runtime provides the Jupyter packages (other
# versions break its kernel) and the tests do not run there.
_NOT_IN_COLAB = ("ipykernel", "jupyter", "pytest", "playwright")


def _repository():
    """('owner/name', the clone's folder in Colab) of `REPOSITORY_URL`, which must be a GitHub address."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+/([\w.-]+?))(?:\.git)?/?", REPOSITORY_URL or "")
    if not match:
        raise ValueError(f"Invalid REPOSITORY_URL in lib/runner/colab.py: {REPOSITORY_URL!r}. "
                         "Expected the published repository's address, https://github.com/<owner>/<name>.")
    return match[1], "/content/" + match[2]


def badge_source(name):
    """Markdown of the "Open in Colab" badge of notebook `name` (e.g. "a_q1_cnn"); needs `REPOSITORY_URL`."""
    owner_repo, _ = _repository()
    url = f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/notebooks/{name}.ipynb"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def setup_source():
    """Code of the setup cell: clone, install and set the data folder in Colab; nothing elsewhere.

    Without `REPOSITORY_URL` the cell clones nothing: in Colab it raises an
    error that says why and what to do instead.
    """
    if REPOSITORY_URL is None:
        return """# In Colab only (elsewhere this cell does nothing): this notebook's repository has no published address yet.
import sys
if "google.colab" in sys.modules:
    raise RuntimeError(
        "This notebook's repository has no published address yet (REPOSITORY_URL in lib/runner/colab.py), so this "
        "cell clones nothing rather than guess one: whoever registered a guessed address would run their code here. "
        "Open the notebook in Jupyter from a clone of the repository (README: Working in Jupyter or Colab), or set "
        "REPOSITORY_URL to the repository you trust and run `python -m lib.runner.colab`.")"""
    _, folder = _repository()
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
    os.environ.setdefault("DATA_DIR", "/content/data")  # data sets download here on first use, checked by sha256
{_BACKEND_CHOICE}"""


# In the setup cell, before Keras is imported (its backend is fixed then). On
# a GPU, JAX trains each epoch as one compiled call on data kept on the
# device (lib/core/device_epochs.py, docs/backends.md); Colab's GPU runtimes
# come with a CUDA build of JAX.
_BACKEND_CHOICE = """
    from lib import machine
    gpus = machine.nvidia_gpus()
    if gpus and "KERAS_BACKEND" not in os.environ:  # a backend the user chose stays
        os.environ["KERAS_BACKEND"] = "jax"
        print(f"GPU found ({gpus[0]}): Keras runs on JAX, the fast backend there; profile 'auto' runs the full studies.")"""


def _cells(name):
    setup = nbformat.v4.new_code_cell(setup_source(), id=SETUP_ID, metadata={"tags": [TAG]})
    if REPOSITORY_URL is None:  # no badge to an address nobody has published
        return [setup]
    badge = nbformat.v4.new_markdown_cell(badge_source(name), id=BADGE_ID, metadata={"tags": [TAG]})
    return [badge, setup]


def update(path):
    """Put the current badge (when there is one) and setup cell first in the notebook at `path`.

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
    return len(tagged) == len(expected) and all(
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
