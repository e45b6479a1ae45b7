"""Rendered reports: each executed notebook as HTML, with its provenance on top.

The runner calls `provenance` after a notebook has run and `render` to write
its HTML; the same provenance goes into the notebook's record that the index
(index.py) reads. The HTML is for readers: code cells are folded (one click
opens them), and paths of the machine that ran the notebook are shown
relative to the repository (`shown_path`).
"""

import datetime
import html
import importlib.metadata
import json
import logging
import os
import platform
import re
from pathlib import Path

from lib import machine, paths
from lib.core import reference

PACKAGES = ("keras", "tensorflow", "jax", "torch", "numpy", "pandas", "matplotlib", "keract", "papermill", "nbconvert")
HIDDEN_TAG = "colab"  # cells that only matter in Colab (colab.py) stay out of the reports
_TEMPLATE = Path(__file__).with_name("templates") / "report.html.j2"
# nbconvert warns about every figure without alt text (it adds a generic one); not news in a run's output.
_EXPORTER_LOG = logging.getLogger("lib.reports.nbconvert")
_EXPORTER_LOG.setLevel(logging.ERROR)


def versions():
    """Installed versions of the packages that decide the results (absent ones left out)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def provenance(start, end, parameters, used, kernel=None):
    """Where, how and from what a notebook's report was made.

    Args:
        start, end: aware datetimes of the execution.
        parameters: the parameters papermill injected.
        used: `tracing.read_log` lists of the files the notebook used.
        kernel: what the kernel logged (backend, device, threads, ...), if it
            imported lib.core.runs.

    Returns:
        A JSON-ready dict.
    """
    return {
        "git": machine.git_state(),
        "profile": parameters.get("profile"),
        "parameters": parameters,
        "start": start.isoformat(timespec="seconds"),
        "end": end.isoformat(timespec="seconds"),
        "seconds": round((end - start).total_seconds(), 1),
        "versions": versions(),
        "kernel": kernel or {},
        "training": training_runs(used["read"] + used["write"]),
        "reference": reference_runs(used["read"]),
    }


def training_runs(files):
    """Summary of the training histories among `files`: count, seeds, epochs, devices, commits."""
    found = []
    for path in sorted(set(files)):
        if path.endswith(".json") and Path(path).is_file():
            try:
                content = json.loads(Path(path).read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(content, dict) and {"config", "provenance", "epoch"} <= set(content):
                found.append(content)
    if not found:
        return {"runs": 0}

    def values(get):
        return sorted({str(get(h)) for h in found})

    def commit(h):
        git = h["provenance"].get("git") or {}
        return (git.get("commit") or "unknown")[:10] + (" (uncommitted changes)" if git.get("dirty") else "")

    return {
        "runs": len(found),
        "seeds": sorted({h["config"]["seed"] for h in found}),
        "epochs": sorted({len(h["epoch"]) for h in found}),
        "devices": values(lambda h: h["provenance"].get("device")),
        "backends": values(lambda h: h["provenance"].get("backend")),
        "commits": values(commit),
        "trained": [min(h["provenance"].get("start", "") for h in found), max(h["provenance"].get("end", "") for h in found)],
        "wall_time_s": sum(h.get("wall_time_s", 0.0) for h in found),
    }


def reference_runs(files):
    """The provenance of the reference-run bundles among `files` (lib/core/reference.py), each with its "bundle" path."""
    found = []
    for path in map(Path, sorted(set(files))):
        if path.name.endswith(".json.gz") and path.is_relative_to(paths.reference_dir()):
            try:
                bundle = reference.read_bundle(path)
            except (ValueError, KeyError):  # a damaged bundle: the notebook said so when it read it
                continue
            if bundle is not None:
                found.append(bundle["provenance"])
    return found


def commit_text(git):
    """'0e34404abc' or '0e34404abc (uncommitted changes)' or 'unknown'."""
    if not git or not git.get("commit"):
        return "unknown (not a git checkout)"
    return git["commit"][:10] + (" (uncommitted changes)" if git.get("dirty") else "")


def backend_text(found):
    """'Keras 3.15.1, tensorflow backend 2.21.0 on CPU: ...' from a provenance dict."""
    kernel = found.get("kernel") or {}
    if not kernel:
        return f"Keras {found['versions'].get('keras', '?')}; backend and device not recorded (the notebook did not import lib.core.runs)"
    return (f"Keras {kernel['keras']}, {kernel['backend']} backend {kernel.get('backend_version') or ''}".rstrip()
            + f", on {kernel['device']} ({kernel['threads']} threads)")


def seeds_text(seeds):
    """'seed 0', 'seeds 0, 1, 2', or 'no seeds (no training runs)': never 'seeds 0', which reads as zero seeds."""
    if not seeds:
        return "no seeds (no training runs)"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def shown_path(value):
    """A path as a report shows it: relative to the repository when inside it, else '…/' and its last part.

    A report is read on other machines; where this one keeps its data (a
    home folder, a temporary directory) is noise there.
    """
    path = Path(value)
    if not path.is_absolute():
        return str(value)
    if path.is_relative_to(paths.ROOT):
        return str(path.relative_to(paths.ROOT)) or "."
    return f"…/{path.name}"


def shown_parameters(parameters):
    """`parameters` with every absolute path in it shown as `shown_path` does."""
    return {name: shown_path(value) if isinstance(value, str) and os.path.isabs(value) else value
            for name, value in parameters.items()}


def provenance_html(found, status="ok"):
    """The provenance block put at the top of a report (and reused by the index)."""
    training = found["training"]
    seeds = seeds_text(training.get("seeds", []))
    rows = {
        "status": "ran" if status == "ok" else status,
        "profile": found["profile"],
        "parameters": ", ".join(f"{name}={value!r}" for name, value in shown_parameters(found["parameters"]).items()),
        "executed": f"{found['start']} to {found['end']} ({found['seconds']:.1f} s)",
        "git commit": commit_text(found["git"]),
        "Keras and device": backend_text(found),
        "packages": ", ".join(f"{name} {version}" for name, version in found["versions"].items()),
        "platform": (found.get("kernel") or {}).get("platform", platform.platform()),
        "training runs used": (f"{training['runs']} (epochs {', '.join(map(str, training['epochs']))}; {seeds}; "
                               f"trained {training['trained'][0]} to {training['trained'][1]} on {'; '.join(training['devices'])} "
                               f"at commit {'; '.join(training['commits'])})") if training["runs"] else "none",
    }
    if found.get("reference"):
        rows["reference runs used"] = "; ".join(f"{shipped['bundle']}: {reference.summary(shipped)}, not a run of yours"
                                                for shipped in found["reference"])
    table = "".join(f"<tr><th>{_escape(name)}</th><td>{_escape(value)}</td></tr>" for name, value in rows.items())
    kernel = found.get("kernel") or {}
    where = f", {kernel['backend']} backend on {kernel['device']}" if kernel else ""
    shipped = ", numbers of the reference run (not a run of yours)" if found.get("reference") else ""
    summary = (f"Provenance: profile {found['profile']}, commit {commit_text(found['git'])}{where}, "
               f"{seeds}{shipped}, executed {found['start']} ({found['seconds']:.1f} s). Details")
    return (f'<div id="provenance" class="provenance"><details><summary>{_escape(summary)}</summary>'
            f'<table>{table}</table></details></div>')


def _escape(value):
    # The block goes into a Markdown cell: a blank line in a value (a history's
    # device, say) would end its HTML and let the rest be read as Markdown.
    return html.escape(str(value)).replace("\r", "&#13;").replace("\n", "&#10;")


def _machine_paths(parameters):
    """[(absolute path, how a report shows it)]: those among the parameters (the data directory) and the output
    folders (when moved out of the repository, as tests and CI do), longest first; then the repository's."""
    given = {value for value in parameters.values() if isinstance(value, str) and os.path.isabs(value)}
    given |= {str(folder) for folder in (paths.history_dir(), paths.checkpoint_dir(), paths.figure_dir())}
    return [(value, shown_path(value)) for value in sorted(given, key=len, reverse=True)] + [(f"{paths.ROOT}{os.sep}", "")]


def _as_a_terminal_shows(notebook):
    """Each cell's printed output as a terminal would show it.

    A progress bar prints each update as an output of its own that starts
    with a carriage return; Jupyter overwrites the line, a saved notebook
    keeps every update. Consecutive outputs of one stream are joined and
    each line keeps what was written after its last carriage return, so a
    run's bar shows its final state once.
    """
    for cell in notebook.cells:
        merged = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and merged and merged[-1].output_type == "stream" and merged[-1].name == output.name:
                merged[-1].text += output.text
            else:
                merged.append(output)
        for output in merged:
            if output.output_type == "stream":
                lines = (next((part for part in reversed(line.split("\r")) if part), "") for line in output.text.split("\n"))
                output.text = "\n".join(lines)
        if "outputs" in cell:
            cell.outputs = merged


def _without_machine_paths(notebook, parameters):
    """Show the runner's parameters and every text output with `_machine_paths` replaced (in place)."""
    replacements = _machine_paths(parameters)

    def shown(text):
        for path, replacement in replacements:
            text = text.replace(path, replacement)
        return text

    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            for name, value in shown_parameters(parameters).items():
                if value != parameters[name]:  # a path, shown as a string literal the way papermill writes one
                    line = f"{name} = {json.dumps(value, ensure_ascii=False)}"
                    cell.source = re.sub(rf"^{re.escape(name)} = .*$", lambda _: line, cell.source, flags=re.M)
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = shown(output.text)
            if "traceback" in output:
                output.traceback = [shown(line) for line in output.traceback]
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output.data[mime] = shown(value)


def render(executed, html_path, found, status="ok"):
    """Write the executed notebook `executed` as HTML at `html_path`, provenance first.

    Cells tagged `HIDDEN_TAG` (the Colab setup) are left out, code cells are
    folded, and paths of this machine are shown relative (`shown_path`). The
    executed notebook on disk is not changed.
    """
    import nbconvert
    import nbformat
    from traitlets.config import Config

    notebook = nbformat.read(executed, as_version=4)
    _without_machine_paths(notebook, found["parameters"])
    _as_a_terminal_shows(notebook)
    block = nbformat.v4.new_markdown_cell(provenance_html(found, status), id="provenance")
    notebook.cells.insert(0, block)
    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {HIDDEN_TAG}
    config.TagRemovePreprocessor.enabled = True
    # In[3]/Out[3] prompts mean nothing to a reader of folded code, and take a column.
    config.TemplateExporter.exclude_input_prompt = True
    config.TemplateExporter.exclude_output_prompt = True
    exporter = nbconvert.HTMLExporter(config=config, extra_template_paths=[str(_TEMPLATE.parent)],
                                      template_file=_TEMPLATE.name, log=_EXPORTER_LOG)
    math = any(cell.cell_type == "markdown" and ("$" in cell.source or "\\(" in cell.source) for cell in notebook.cells)
    resources = {"metadata": {"name": Path(executed).stem}, "needs_mathjax": math}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    Path(html_path).write_text(body)


def now():
    """The current time, timezone-aware (UTC)."""
    return datetime.datetime.now(datetime.timezone.utc)
