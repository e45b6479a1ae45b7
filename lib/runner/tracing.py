"""Inside a notebook's kernel: which files it used, and on what it ran.

The runner (execute.py) starts each kernel with an IPython startup file
that calls `install`. From then on an audit hook (`sys.addaudithook`) logs
every file the notebook opens, writes, renames into place or lists under the
watched folders (histories, reference runs, figures, data), one JSON object
per line; and after the first cell that has imported `lib.core.runs`, the backend, device and
versions it runs with. The runner turns the log into the report's provenance
and into the stamp that lets it skip a notebook whose inputs have not changed
(stamps.py). Audit hooks see opens made from C code in CPython (numpy,
pickle, matplotlib), but not those inside C libraries such as HDF5; weights
read that way are written together with the history that is logged.
"""

import datetime
import json
import os
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def install(log_path, roots):
    """Log the files under `roots` that this process uses into `log_path`.

    Args:
        log_path: JSON-lines file to append to.
        roots: folders whose files count as the notebook's inputs and outputs.
    """
    log = open(log_path, "a", buffering=1)  # opened before the hook: its own writes are not logged
    prefixes = tuple(sorted({os.path.join(os.path.abspath(root), "") for root in roots}
                            | {os.path.join(os.path.realpath(root), "") for root in roots}))
    seen = set()

    def emit(kind, path):
        if (kind, path) not in seen:
            seen.add((kind, path))
            log.write(json.dumps({kind: path}) + "\n")

    def watched(path):
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        elif not isinstance(path, str):
            path = getattr(path, "__fspath__", lambda: None)()
            if not isinstance(path, str):
                return None  # a file descriptor
        path = os.path.abspath(path)
        return path if os.path.join(path, "").startswith(prefixes) else None

    def hook(event, args):
        if event == "open":
            path = watched(args[0])
            if path:
                mode, flags = args[1], args[2]
                writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & _WRITE_FLAGS)
                emit("write" if writes else "read", path)
        elif event == "os.rename":  # also os.replace: an atomic write lands at args[1]
            path = watched(args[1])
            if path:
                emit("write", path)
        elif event in ("os.scandir", "os.listdir"):
            path = watched(args[0] if args[0] is not None else ".")
            if path:
                emit("list", path)

    sys.addaudithook(hook)
    _log_provenance_once(log)


def _log_provenance_once(log):
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return

    def after_cell(*_):
        runs = sys.modules.get("lib.core.runs")
        if runs is None:
            return
        shell.events.unregister("post_run_cell", after_cell)
        now = datetime.datetime.now(datetime.timezone.utc)
        found = runs.provenance(now, now)
        fields = ("keras", "backend", "backend_version", "numpy", "python", "platform", "device", "threads")
        log.write(json.dumps({"provenance": {name: found[name] for name in fields}}) + "\n")

    shell.events.register("post_run_cell", after_cell)


def read_log(log_path):
    """The log as {"read": [...], "write": [...], "list": [...], "provenance": {...}}."""
    found = {"read": [], "write": [], "list": [], "provenance": {}}
    if not os.path.exists(log_path):
        return found
    with open(log_path) as file:
        for line in file:
            entry = json.loads(line)
            for kind, value in entry.items():
                if kind == "provenance":
                    found["provenance"] = value
                elif value not in found[kind]:
                    found[kind].append(value)
    return found
