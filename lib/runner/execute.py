"""Execute every study notebook with papermill and render HTML reports.

    python -m lib.runner --profile smoke --data-dir data
    python -m lib.runner --only a_q1_cnn -p seed=1
    python -m lib.runner --force          # execute even the notebooks that are up to date

Each notebook runs into `reports/<name>.ipynb` and is rendered to
`reports/<name>.html` with its provenance, failed ones included (papermill
marks the failing cell); `reports/<name>.run.json` records its status, time,
provenance and the stamp of its inputs (stamps.py). A notebook whose
report is current is not executed again ("up to date"). The runner keeps
going after a failure, prints each notebook's status and time, writes
`reports/index.html` (index.py) and exits 1 if any failed, 2 on bad
arguments. Nothing here imports Keras: the kernels do.

One runner at a time executes a notebook (a lock per notebook; a second one
waits). While it runs, its record says "running" with the runner's process,
so a runner killed mid-notebook leaves a record that reads "interrupted".
The report is written under temporary names and renamed into place when
complete: a failed write (a full disk) keeps the previous report.
"""

import argparse
import ast
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from lib import files, machine, paths, studies
from lib.core.config import PROFILE_NAMES
from lib.runner import index as report_index, reports, stamps, tracing

NOTEBOOK_DIR = paths.ROOT / "notebooks"


def notebooks(only=None):
    """The study notebooks (sorted), or those named in `only`."""
    found = {path.stem: path for path in sorted(NOTEBOOK_DIR.glob("*.ipynb"))}
    if not only:
        return list(found.values())
    unknown = [name for name in only if name not in found]
    if unknown:
        raise ValueError(f"Unknown notebook: {unknown[0]!r}. Expected one of {tuple(found)}.")
    return [found[name] for name in only]


def parse_parameter(text):
    """'name=value' -> (name, value); the value is a Python literal or a string."""
    name, separator, value = text.partition("=")
    if not separator or not name.isidentifier():
        raise ValueError(f"Invalid parameter: {text!r}. Expected name=value, e.g. seed=1.")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool}


def _parameters(notebook):
    import papermill

    return papermill.inspect_notebook(str(notebook))


def check_parameters(notebook, parameters):
    """Raise ValueError if `notebook` lacks one of `parameters` or a value has the wrong type.

    The messages name the valid parameters, or the value and the type its
    `parameters` cell declares.
    """
    declared = _parameters(notebook)
    for name, value in parameters.items():
        if name not in declared:
            raise ValueError(f"Unknown parameter {name!r} for notebook {notebook.stem}. Valid parameters: {', '.join(declared)}.")
        expected = declared[name]["inferred_type_name"]
        wrong_bool = isinstance(value, bool) and expected in ("int", "float")
        if expected in _TYPES and (wrong_bool or not isinstance(value, _TYPES[expected])):
            raise ValueError(f"Invalid value for parameter {name!r} of notebook {notebook.stem}: {value!r}. Expected {expected}.")


def record_path(reports_dir, name):
    """Where the runner keeps a notebook's status, time, provenance and stamp."""
    return Path(reports_dir) / f"{name}.run.json"


def check_reports_dir(reports_dir):
    """Raise ValueError if `reports_dir` is, is inside or contains the folder of the source notebooks.

    The executed copies are named like their sources: written there, they
    would replace them.
    """
    folder, sources = Path(reports_dir).resolve(), NOTEBOOK_DIR.resolve()
    relation = ("is" if folder == sources else "is inside" if folder.is_relative_to(sources)
                else "contains" if sources.is_relative_to(folder) else None)
    if relation:
        raise ValueError(f"Invalid value for --reports-dir: {str(reports_dir)!r} {relation} the folder of the source "
                         f"notebooks ({sources}). Expected a folder apart from it, e.g. reports/ (the default).")


@contextlib.contextmanager
def notebook_lock(reports_dir, name):
    """Hold `<reports_dir>/.<name>.lock` while notebook `name` is checked and executed.

    A second runner asking for the same notebook says that it is busy and
    waits, then finds the report up to date or executes the notebook itself.
    The lock is `files.exclusive`, which the kernel releases when its holder
    dies, even by SIGKILL; what a dead holder left behind (its scratch folder)
    is removed once the lock is taken.
    """
    def waiting(holder):
        who = f"process {holder['pid']} on {holder['host']}" if holder else "another runner"
        print(f"... {name}: busy, {who} is executing it; waiting for it", flush=True)

    with files.exclusive(Path(reports_dir) / f".{name}.lock", waiting):
        for leftover in Path(reports_dir).glob(f".{name}.running-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        yield


@contextlib.contextmanager
def _traced_kernels(log_path, roots, home):
    # Kernels started inside this block run tracing.py from an IPython startup
    # file. Their IPython directory and connection files go in `home`, the
    # run's scratch folder, which the next runner removes if this one is killed
    # (in /tmp they would stay).
    ipython = Path(home) / "ipython"
    startup = ipython / "profile_default" / "startup"
    startup.mkdir(parents=True)
    # The kernel listens on localhost only; its warning that TCP is unencrypted would open every notebook's log.
    (startup.parent / "ipython_kernel_config.py").write_text("c.IPKernelApp.log_level = 'ERROR'\n")
    (startup / "00-runner-tracing.py").write_text(
        "import importlib.util as _util\n"
        f"_spec = _util.spec_from_file_location('_runner_tracing', {str(Path(tracing.__file__))!r})\n"
        "_module = _util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_module)\n"
        f"_module.install({str(log_path)!r}, {[str(root) for root in roots]!r})\n"
        "del _util, _spec, _module\n"
    )
    saved = os.environ.get("IPYTHONDIR"), tempfile.tempdir
    os.environ["IPYTHONDIR"], tempfile.tempdir = str(ipython), str(home)  # jupyter_client makes connection files with mkstemp
    try:
        yield
    finally:
        if saved[0] is None:
            del os.environ["IPYTHONDIR"]
        else:
            os.environ["IPYTHONDIR"] = saved[0]
        tempfile.tempdir = saved[1]


def stale_reason(notebook, inputs, reports_dir):
    """Why `notebook` must run again, or None when its report is current.

    Args:
        notebook: path of the notebook.
        inputs: `stamps.inputs(...)` of the run about to be made.
        reports_dir: where its report and record are.
    """
    path = record_path(reports_dir, notebook.stem)
    if not path.is_file():
        return "not run before"
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return f"its record {path} is not valid JSON"
    if record.get("status") in ("running", "interrupted"):  # under the notebook's lock, "running" is a dead runner's
        return "its last run was interrupted"
    if record.get("status") != "ok":
        return f"its last run {record.get('status', 'did not finish')}"
    missing = [p for p in (path.with_name(f"{notebook.stem}.html"), path.with_name(f"{notebook.stem}.ipynb")) if not p.is_file()]
    if missing:
        return f"{missing[0]} is missing"
    if record.get("inputs") != inputs:
        return "the notebook, lib/, requirements, parameters, folders or data directory changed"
    changed = stamps.changed(record.get("files", {}))
    return f"{changed} changed since its last run" if changed else None


_UNUSED = {"read": [], "write": [], "list": []}  # what a run that has not started used


def run_notebook(notebook, parameters, reports_dir, data_dir=None, log_output=False, inputs=None):
    """Execute one notebook, render its HTML with provenance and write its record.

    Args:
        notebook: path of the notebook.
        parameters: dict of papermill parameters.
        reports_dir: where `<name>.ipynb`, `<name>.html` and `<name>.run.json` go.
        data_dir: the resolved data directory (watched as an input).
        log_output: stream the cells' output.
        inputs: `stamps.inputs(...)` of this run, kept as part of its stamp.

    Returns:
        The record: status ("ok" or "failed"), error, seconds, provenance,
        questions and figures written, and the stamp.

    Call it holding the notebook's lock (`notebook_lock`). Until it returns,
    the record says "running", with this process's id and host; if it is
    interrupted (KeyboardInterrupt) it says "interrupted". Each run has its
    own scratch folder `.<name>.running-*` for the kernel's files, the log of
    the files it used and the report being written; the report replaces the
    previous one only once written whole.
    """
    import papermill

    reports_dir = Path(reports_dir)
    output, html_path, path = (reports_dir / f"{notebook.stem}{suffix}" for suffix in (".ipynb", ".html", ".run.json"))
    roots = [paths.history_dir(), paths.figure_dir(), *([data_dir] if data_dir else [])]
    start = reports.now()
    running = _record(notebook, "running", None, reports.provenance(start, start, parameters, _UNUSED), _UNUSED, None)
    running |= {"pid": os.getpid(), "host": socket.gethostname()}
    files.write_json(path, running)  # no stamp (inputs) until the run is over
    scratch = Path(tempfile.mkdtemp(dir=reports_dir, prefix=f".{notebook.stem}.running-"))
    try:
        executed, log_path = scratch / output.name, scratch / "trace.jsonl"
        status, error = "ok", None
        with _traced_kernels(log_path, roots, scratch):
            try:
                papermill.execute_notebook(
                    str(notebook), str(executed), parameters=parameters, kernel_name="python3",
                    cwd=str(notebook.parent), progress_bar=False, log_output=log_output,
                )
            except papermill.PapermillExecutionError as failure:
                status, error = "failed", f"{failure.ename}: {failure.evalue}"
            except Exception as failure:  # a dead or timed-out kernel, a full disk: report it and go on with the others
                status, error = "failed", f"{type(failure).__name__}: {failure}"
        end = reports.now()
        used = tracing.read_log(log_path)
        used["write"] = [p for p in used["write"] if os.path.exists(p)]  # temporary files renamed into place
        found = reports.provenance(start, end, parameters, used, used.pop("provenance"))
        if executed.exists():
            try:
                reports.render(executed, scratch / html_path.name, found, status)
                os.replace(executed, output)
                os.replace(scratch / html_path.name, html_path)
            except Exception as failure:  # a full disk, or a notebook torn by one: the previous report stays
                status = "failed"
                error = (f"{error}; " if error else "") + f"its report was not written ({type(failure).__name__}: {failure})"
        record = _record(notebook, status, error, found, used, inputs)
        files.write_json(path, record)
    except BaseException as stop:  # KeyboardInterrupt, or no room for the record (a full disk)
        status = "failed" if isinstance(stop, Exception) else "interrupted"
        try:
            error = f"{type(stop).__name__}: {stop}" if str(stop) else type(stop).__name__
            files.write_json(path, running | {"status": status, "error": error})
        except OSError:  # rather no record than one that says "running"
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return record


def _record(notebook, status, error, found, used, inputs):
    """A notebook's record: its status, error, provenance `found`, what it wrote and the stamp of `used`."""
    results_dir = paths.history_dir() / "results"
    return {
        "notebook": notebook.stem,
        "status": status,
        "error": error,
        "seconds": found["seconds"],
        "provenance": found,
        "questions": sorted(Path(p).stem for p in used["write"] if Path(p).parent.parent == results_dir),
        "figures": sorted(p for p in used["write"] if p.endswith(".png")),
        "inputs": inputs,
        "files": stamps.file_states(used),
    }


class _QuietPapermill(logging.Filter):
    """Drops papermill's per-cell and start-up lines; cell output still streams.

    Figures, images and Markdown have no text form: papermill would log their
    repr ("<Figure size 640x400 with 1 Axes>"), so those go too.
    """

    NOISE = ("Executing Cell ", "Ending Cell ", "Executing notebook with kernel", "Input Notebook:",
             "Output Notebook:", "Working directory:")
    REPR = re.compile(r"<[\w.]+ (object|size [\dx.]+ with \d+ Axes)>")

    def filter(self, record):
        message = str(record.msg)
        return not (message.startswith(self.NOISE) or self.REPR.fullmatch(message.strip()))


_QUIET = _QuietPapermill()


def _warn_full_without_gpu(selected):
    if machine.nvidia_gpus():
        return
    hours = sum(studies.cpu_hours(notebook.stem) for notebook in selected)
    print(
        "WARNING: PROFILE=full runs the studies' real epochs, which needs a GPU, and "
        f"none was found ({machine.cpu_description()}). Estimated time on this CPU: "
        f"about {hours:.1f} hours. For meaningful numbers in minutes run "
        "`make all PROFILE=quick` (or `python -m lib.runner --profile quick`).",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lib.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=os.environ.get("PROFILE") or "full", help="smoke | quick | full (default: $PROFILE or full)")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""), help="data directory (default: $DATA_DIR or data/)")
    parser.add_argument("--reports-dir", default=str(paths.ROOT / "reports"), help="where executed notebooks and HTML go")
    parser.add_argument("--jobs", type=int, default=os.environ.get("JOBS") or "1",  # argparse converts it
                        help="runs trained at once by notebooks that train many (default: $JOBS or 1)")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (names without .ipynb)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="extra notebook parameter")
    parser.add_argument("--force", action="store_true", default=bool(os.environ.get("FORCE")),
                        help="execute notebooks even when their reports are up to date (default: $FORCE)")
    parser.add_argument("--quiet", action="store_true", help="do not stream notebook output")
    args = parser.parse_args(argv)
    logging.getLogger("papermill").addFilter(_QUIET)
    try:
        if args.profile not in PROFILE_NAMES:
            raise ValueError(f"Unknown profile: {args.profile!r}. Expected one of {PROFILE_NAMES}.")
        selected = notebooks(args.only)
        extra = dict(parse_parameter(text) for text in args.parameter)
        if args.jobs < 1:
            raise ValueError(f"Invalid value for --jobs. Received: {args.jobs}. Expected a positive integer.")
        for name in ("profile", "data_dir", "jobs"):
            if name in extra:
                raise ValueError(f"Set {name} with --{name.replace('_', '-')}, not -p {name}=...")
        for notebook in selected if extra else ():
            check_parameters(notebook, extra)
        check_reports_dir(args.reports_dir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:  # papermill streams cell output through its logger
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("papermill").setLevel(logging.INFO)
    reports_dir = Path(args.reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    data_dir = paths.data_dir(args.data_dir)
    plan = []
    for notebook in selected:
        parameters = {"profile": args.profile, "data_dir": args.data_dir, **extra}
        if args.jobs > 1 and "jobs" in _parameters(notebook):
            parameters["jobs"] = args.jobs
        inputs = stamps.inputs(notebook, parameters, data_dir)
        reason = "--force" if args.force else stale_reason(notebook, inputs, reports_dir)
        plan.append((notebook, parameters, inputs, reason))
    if args.profile == "full" and any(reason for *_, reason in plan):
        _warn_full_without_gpu([notebook for notebook, *_, reason in plan if reason])
    results = []
    for notebook, parameters, inputs, _ in plan:
        with notebook_lock(reports_dir, notebook.stem):
            # Asked again under the lock: a runner that held it may have just brought the report up to date.
            reason = "--force" if args.force else stale_reason(notebook, inputs, reports_dir)
            if reason is None:
                record = json.loads(record_path(reports_dir, notebook.stem).read_text())
                results.append((notebook.stem, "up to date", 0.0, None))
                print(f"<== {notebook.stem}: up to date (report of {record['provenance']['start']}; --force runs it again)", flush=True)
                continue
            print(f"==> {notebook.stem} (profile {args.profile}; {reason})", flush=True)
            try:
                record = run_notebook(notebook, parameters, reports_dir, data_dir, log_output=not args.quiet, inputs=inputs)
            except OSError as error:  # no room for its record or scratch folder (a full disk): go on with the others
                record = {"status": "failed", "seconds": 0.0, "error": f"{type(error).__name__}: {error}"}
        results.append((notebook.stem, record["status"], record["seconds"], record["error"]))
        print(f"<== {notebook.stem}: {record['status']} in {record['seconds']:.1f} s"
              + (f" ({record['error']})" if record["error"] else ""), flush=True)
    index = report_index.build(reports_dir, NOTEBOOK_DIR)
    print(f"\nSummary (profile {args.profile}, reports in {reports_dir}, index {index}):")
    for name, status, seconds, error in results:
        print(f"  {name:<24} {status:<10} {seconds:8.1f} s" + (f"  {error}" if error else ""))
    failed = sum(status == "failed" for _, status, _, _ in results)
    current = sum(status == "up to date" for _, status, _, _ in results)
    print(f"{len(results) - failed - current} passed, {failed} failed ({current} up to date)")
    return 1 if failed else 0
