"""When a notebook's report is current, so the runner need not execute it again.

After a successful run the runner stores, beside the report, the notebook's
inputs: a digest of the notebook file, of every file under lib/, of
requirements.txt, the Python version, the parameters, the folders and
backend in use and the listing of the data directory; and the state (size,
modification time, sha256) of every file the kernel read, wrote or listed
under the histories, reference runs, figures and data folders (tracing.py), files it
looked for and did not find included. The report is current while all of
these are unchanged and its files exist; anything else runs the notebook
again, so a report never shows results older than its inputs.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

from lib import paths
from lib.files import sha256

# Environment variables that change what a notebook computes or where it reads
# (RETRAIN: runs of your own rather than the reference runs, lib/core/reference.py).
_ENVIRONMENT = ("KERAS_BACKEND", "HISTORY_DIR", "CHECKPOINT_DIR", "FIGURE_DIR", "RETRAIN")


def _tree_digest(root):
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(root)}\0{sha256(path)}\0".encode())
    return digest.hexdigest()


def _listing(folder):
    """Sorted (name, size, mtime) of every file under `folder` (empty if absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*") if p.is_file())


def inputs(notebook, parameters, data_dir):
    """A digest of everything about a run that is known before it starts.

    Args:
        notebook: path of the notebook.
        parameters: the parameters papermill injects.
        data_dir: the resolved data directory.

    Returns:
        A hex string.
    """
    payload = {
        "notebook": sha256(notebook),
        "lib": _tree_digest(paths.ROOT / "lib"),
        "requirements": sha256(paths.ROOT / "requirements.txt"),
        "python": sys.version,
        "parameters": parameters,
        "environment": {name: os.environ.get(name, "") for name in _ENVIRONMENT},
        "folders": [str(paths.history_dir()), str(paths.figure_dir()), str(data_dir)],
        "data": _listing(data_dir),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def file_states(used):
    """The state of the files and folders a run used (`tracing.read_log`'s lists).

    Returns:
        dict path -> {"size", "mtime_ns", "sha256"} for a file,
        {"listing": [...]} for a listed folder, {"absent": True} for a path
        that does not exist.
    """
    states = {}
    for path in sorted(set(used["read"]) | set(used["write"])):
        states[path] = _file_state(path)
    for path in used["list"]:
        states[path + os.sep] = {"listing": sorted(os.listdir(path))} if os.path.isdir(path) else {"absent": True}
    return states


def _file_state(path):
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return {"absent": True}
    if not os.path.isfile(path):
        return {"absent": True}
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "sha256": sha256(path)}


def changed(states):
    """The first path whose state differs from `states`, or None if none does.

    A file whose size and modification time are unchanged is taken as
    unchanged; otherwise its sha256 decides (a copy or a touch is no change).
    """
    for path, state in states.items():
        if "listing" in state or path.endswith(os.sep) and "absent" in state:
            folder = path.rstrip(os.sep)
            now = {"listing": sorted(os.listdir(folder))} if os.path.isdir(folder) else {"absent": True}
            if now != state:
                return path
            continue
        try:
            status = os.stat(path)
        except FileNotFoundError:
            if "absent" in state:
                continue
            return path
        if "absent" in state or not os.path.isfile(path):
            return path
        if (status.st_size, status.st_mtime_ns) != (state["size"], state["mtime_ns"]) and sha256(path) != state["sha256"]:
            return path
    return None
