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

The first line says which profile runs ("auto": full with a GPU, quick
without) and about how long it takes. The notebooks' output goes to
`reports/<name>.log`; the console shows one line per training run, its
progress bar updated in place on a terminal (`--verbose` streams
everything instead).

One runner at a time executes a notebook (a lock per notebook; a second one
waits). While it runs, its record says "running" with the runner's process,
so a runner killed mid-notebook leaves a record that reads "interrupted".
The report is written under temporary names and renamed into place when
complete: a failed write (a full disk) keeps the previous report. Ctrl-C or
SIGTERM stops the kernel as Jupyter's stop button does, marks the notebook
interrupted (its previous report stays), removes the run's scratch files,
rebuilds the index, says in one line what stopped, and exits 130; the next
run resumes (see `_Interrupts`).
"""

import argparse
import ast
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from lib import files, machine, paths, studies
from lib.core import reference
from lib.core.config import AUTO, resolve_profile
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


def run_notebook(notebook, parameters, reports_dir, data_dir=None, inputs=None, console=None, interrupts=None):
    """Execute one notebook, render its HTML with provenance and write its record.

    Args:
        notebook: path of the notebook.
        parameters: dict of papermill parameters.
        reports_dir: where `<name>.ipynb`, `<name>.html`, `<name>.run.json`
            and `<name>.log` (everything the notebook printed) go.
        data_dir: the resolved data directory (watched as an input).
        inputs: `stamps.inputs(...)` of this run, kept as part of its stamp.
        console: the runner's `_Console` (default: one that shows nothing).
        interrupts: the runner's `_Interrupts`, which stops the kernel on
            Ctrl-C or SIGTERM (default: one that is not installed).

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

    console, interrupts = console or _Console(shown=False), interrupts or _Interrupts()
    reports_dir = Path(reports_dir)
    output, html_path, path, log_path = (reports_dir / f"{notebook.stem}{suffix}" for suffix in (".ipynb", ".html", ".run.json", ".log"))
    roots = [paths.history_dir(), paths.reference_dir(), paths.figure_dir(), *([data_dir] if data_dir else [])]
    start = reports.now()
    running = _record(notebook, "running", None, reports.provenance(start, start, parameters, _UNUSED), _UNUSED, None)
    running |= {"pid": os.getpid(), "host": socket.gethostname()}
    files.write_json(path, running)  # no stamp (inputs) until the run is over
    scratch = Path(tempfile.mkdtemp(dir=reports_dir, prefix=f".{notebook.stem}.running-"))
    try:
        executed, trace_path = scratch / output.name, scratch / "trace.jsonl"
        status, error = "ok", None
        with (_traced_kernels(trace_path, roots, scratch), open(log_path, "w") as log,
              console.notebook(notebook.stem, log), interrupts.notebook() as kernels):
            try:
                papermill.execute_notebook(
                    str(notebook), str(executed), parameters=parameters, kernel_name="python3",
                    cwd=str(notebook.parent), progress_bar=False, log_output=console.verbose,
                    stdout_file=console, stderr_file=log,
                    kernel_manager_class=_kernel_manager(log, kernels), on_cell_execute=interrupts.check,
                )
            except papermill.PapermillExecutionError as failure:
                status, error = "failed", f"{failure.ename}: {failure.evalue}"
            except Exception as failure:  # a dead or timed-out kernel, a full disk: report it and go on with the others
                status, error = "failed", f"{type(failure).__name__}: {failure}"
        end = reports.now()
        used = tracing.read_log(trace_path)
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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM reached the runner; the message names the signal."""


class _Stopped(Exception):
    """Raised before a cell would run once the runner is interrupted: papermill stops there."""


class _Interrupts:
    """Ctrl-C and SIGTERM, which stop the runner cleanly.

    A terminal sends Ctrl-C's SIGINT to the runner's process group, but each
    kernel runs in a session of its own (jupyter_client), so it does not get
    it, and papermill would go on. While a notebook runs, the first signal
    interrupts its kernel as Jupyter's stop button does (SIGINT to the
    kernel's process group, its pool workers included): the cell ends with
    KeyboardInterrupt, which releases the run's lock, and the run's last
    resume state stays for the next run. No further cell starts (`check`),
    papermill shuts the kernel down, and `notebook` then raises `Interrupted`
    so the runner can clean up. A kernel that has not stopped `GRACE` seconds
    later, or at a second signal, is killed. Outside a notebook the signal
    raises `Interrupted` at once. The handlers are installed even where
    SIGINT came ignored (a command started with `&` by a script), since the
    user asked to stop.
    """

    GRACE = 10.0

    def __init__(self):
        self.received = None  # the first signal's name
        self.reports_dir = None  # where the index is rebuilt after a signal, once the arguments are checked
        self._kernels = None  # the running notebook's kernel managers, while one runs
        self._timer = None

    @contextlib.contextmanager
    def installed(self):
        """Handle SIGINT and SIGTERM inside the block; the previous handlers come back after it."""
        previous = {number: signal.signal(number, self._handle) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextlib.contextmanager
    def notebook(self):
        """While a notebook runs: yields the list its kernel managers go in; raises `Interrupted` after if stopped."""
        self._kernels = []
        try:
            yield self._kernels
        finally:
            self._kernels = None
            if self._timer:
                self._timer.cancel()
        if self.received:
            raise Interrupted(self.received)

    def check(self, **_):
        """papermill's hook before each cell (`on_cell_execute`)."""
        if self.received:
            raise _Stopped(f"stopped by {self.received}")

    def _handle(self, number, frame):
        if self.received:  # a second signal: no more waiting
            _signal_kernels(self._kernels or (), signal.SIGKILL)
            return
        self.received = signal.Signals(number).name
        if self._kernels is None:
            raise Interrupted(self.received)
        _signal_kernels(self._kernels, signal.SIGINT)
        self._timer = threading.Timer(self.GRACE, _signal_kernels, (self._kernels, signal.SIGKILL))
        self._timer.daemon = True
        self._timer.start()


def _signal_kernels(kernels, number):
    """Send signal `number` to the process group of each kernel of `kernels` that is still running."""
    for manager in kernels:
        process = getattr(getattr(manager, "provisioner", None), "process", None)
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, number)  # each kernel leads a session of its own (jupyter_client)


def _kernel_manager(log, kernels):
    """A kernel manager class whose kernels are listed in `kernels` and write their own output to `log`.

    Their cells' output reaches papermill through Jupyter's messages; what the
    kernel process itself prints (at start-up, at shutdown) would go to the
    runner's terminal.
    """
    from jupyter_client import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def start_kernel(self, **kwargs):
            kernels.append(self)
            return await super().start_kernel(stdout=log, stderr=log, **kwargs)

    return KernelManager


class _Console:
    """What the console shows of the notebooks: one line per training run, and where runs come from the reference run.

    papermill hands over the cells' stdout as it streams (`stdout_file`). All
    of it goes to the notebook's log; a run's progress bar
    (`runs._progress_bar`: "[label] epoch n/N |...") is shown as one line,
    updated in place on a terminal and printed once when the run ends
    elsewhere (a pipe, a CI log), and so is the line that says a notebook's
    numbers come from a reference run (`reference.announce`). With `verbose`
    papermill streams everything instead and the console shows nothing of
    its own.
    """

    BAR = re.compile(r"\[(?P<label>.+?)\] epoch (?P<done>\d+)/(?P<total>\d+) \|")
    REFERENCE = re.compile(r"Reference run \(")

    def __init__(self, shown=True, verbose=False, out=None):
        self.shown, self.verbose = shown and not verbose, verbose
        self.out = out or sys.stdout
        self.terminal = self.out.isatty()
        self.name = self.log = self.bar = None  # the notebook running, its log, its run's last progress
        self.line = ""  # the text since the last "\r" or "\n"

    @contextlib.contextmanager
    def notebook(self, name, log):
        """Send notebook `name`'s output to the file `log` in the block, and unless verbose its loggers' too."""
        self.name, self.log, self.bar, self.line = name, log, None, ""
        # papermill's, nbclient's and jupyter_client's warnings; verbose, they and the output go to the console.
        handler = logging.NullHandler() if self.verbose else logging.StreamHandler(log)
        logging.getLogger().addHandler(handler)
        try:
            yield
        finally:
            logging.getLogger().removeHandler(handler)
        if self.bar:  # a run that ended without closing its bar (diverged, failed)
            self._end_run(self.bar)
        self.name = None

    def write(self, text):
        self.log.write(text)
        self.log.flush()
        for part in re.split(r"([\r\n])", text):
            if part == "\r":
                self.line = ""
            elif part == "\n":
                if self.BAR.match(self.line) or self.REFERENCE.match(self.line):
                    self._end_run(self.line)
                self.line = ""
            elif part:
                self.line += part
                if self.BAR.match(self.line):
                    self.bar = self.line.rstrip()
                    if self.shown and self.terminal:
                        width = shutil.get_terminal_size().columns - 1
                        self._print(f"\r  {self.bar}"[:width] + "\x1b[K", end="")

    def flush(self):
        self.log.flush()

    def stopped(self):
        """The line that says what a signal stopped and that `make all` resumes it."""
        found = self.BAR.match(self.bar or "")
        if found:
            return (f"Interrupted {self.name} during run {found['label']} (epoch {found['done']}/{found['total']}); "
                    "`make all` resumes it from its last checkpoint.")
        return f"Interrupted {self.name}; `make all` resumes it." if self.name else "Interrupted; `make all` resumes where it stopped."

    def say(self, line):
        """Print `line`, in place of a run's line being updated on a terminal."""
        self._print(("\r\x1b[K" if self.bar and self.shown and self.terminal else "") + line)

    def _end_run(self, text):
        self.bar = None
        if self.shown:
            self._print(("\r\x1b[K" if self.terminal else "") + "  " + text.rstrip())

    def _print(self, text, end="\n"):
        print(text, end=end, file=self.out, flush=True)


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


# Behind the estimates (shared 2-core CPU, bench/README.md): the smoke suite
# took 8 minutes for 21 notebooks, mostly kernel start-up and imports; a
# Study A Q1 epoch took 4.7 s there and 0.0955 s on an H200 under JAX.
_SMOKE_HOURS_PER_NOTEBOOK = 8 / 60 / 21
_GPU_SPEEDUP = 49


def _work(study, profile):
    """Epochs x seeds x trials summed over a study's scales under `profile`: what the profiles scale."""
    return sum(scale["epochs"] * scale["seeds"] * scale.get("trials", 1) for scale in study.PROFILES[profile].values())


def estimate_hours(names, profile, gpu=False):
    """Hours notebooks `names` take under `profile`: measured for smoke; otherwise scaled from `studies.cpu_hours`.

    A notebook's full-profile CPU hours are scaled by its study's work under
    `profile` against full (`_work`), and on a GPU divided by Study A Q1's
    speed-up there; neither is measured end to end.
    """
    if profile == "smoke":
        return len(names) * _SMOKE_HOURS_PER_NOTEBOOK
    hours = 0.0
    for name in names:
        study = studies.STUDIES.get(studies.study_letter(name))
        if study:
            hours += studies.cpu_hours(name) * _work(study, profile) / _work(study, "full")
    return hours / _GPU_SPEEDUP if gpu else hours


def _duration(hours):
    minutes = hours * 60
    return (f"{minutes * 60:.0f} seconds" if minutes < 2 else f"{minutes:.0f} minutes" if minutes < 90
            else f"{hours:.1f} hours" if hours < 10 else f"{hours:.0f} hours")


def plan_line(profile, reason, names, gpus, shipped=(), stale=()):
    """The runner's first line: the profile, why, and about how long `names` (the notebooks to run) take.

    Args:
        profile: the resolved profile.
        reason: why "auto" chose it (`config.resolve_profile`), or None.
        names: the notebooks that will run.
        gpus: `machine.nvidia_gpus()`.
        shipped: those of `names` whose study ships reference runs for
            `profile` (`shipped_notebooks`): they render without training,
            about as fast as under the smoke profile.
        stale: those of `names` whose study's reference runs no longer
            match the training code: they train, and the line says why.
    """
    chosen = f"Profile {profile} (auto: {reason})" if reason else f"Profile {profile}"
    if not names:
        return f"{chosen}: every report is up to date."
    count = f"{len(names)} notebook{'s' * (len(names) > 1)} to run"
    shipped = [name for name in names if name in set(shipped)]
    trained = [name for name in names if name not in shipped]
    if shipped:
        count += (f" ({len(shipped)} of them from the reference runs shipped for {_studies(shipped)}, "
                  f"about {_duration(estimate_hours(shipped, 'smoke'))} without training; RETRAIN=1 trains your own)")
    stale = [name for name in names if name in set(stale)]
    if stale:
        count += (f" ({len(stale)} of them train: the reference runs of {_studies(stale)} no longer match the training code; "
                  "`python -m lib.core.reference check` lists them)")
    if gpus and profile != "smoke":
        took = f"about {_duration(estimate_hours(trained, profile, gpu=True))} if they speed up as Study A Q1 did on an H200 " \
               f"({_GPU_SPEEDUP}x a 2-core CPU; not measured end to end)"
    else:
        took = f"about {_duration(estimate_hours(trained, profile))} on a 2-core CPU"
    took = took if trained else "nothing to train"
    if profile == "full" and not gpus and trained:
        return (f"{chosen} without a GPU ({machine.cpu_description()}): {count}, {took}. Ctrl-C stops it and "
                f"`make all` resumes it later; PROFILE=quick takes about {_duration(estimate_hours(trained, 'quick'))}.")
    if reason and profile == "quick":
        return f"{chosen}: {count}, {took}. PROFILE=smoke tests the code in minutes; PROFILE=full runs the published epochs."
    return f"{chosen}: {count}, {took}."


def _studies(names):
    """The studies of notebooks `names` in words: "study b" or "studies b, c"."""
    letters = sorted(set(map(studies.study_letter, names)))
    return f"{'study' if len(letters) == 1 else 'studies'} {', '.join(letters)}"


def shipped_notebooks(names, profile):
    """Those of `names` whose study ships reference runs for `profile` (lib/core/reference.py), in two lists.

    Returns:
        `(shipped, stale)`: the notebooks that read their study's reference
        runs, and those whose study's reference runs no longer match the
        training code, so that they train. Both are empty when `$RETRAIN`
        is "1".
    """
    if reference.retrain():
        return [], []
    bundles = {name: reference.bundle_path(profile, studies.study_letter(name)) for name in names}
    bundles = {name: path for name, path in bundles.items() if path.is_file()}
    outdated = _stale_bundles(sorted(set(bundles.values()))) if bundles else set()
    return ([name for name, path in bundles.items() if str(path) not in outdated],
            [name for name, path in bundles.items() if str(path) in outdated])


def _stale_bundles(bundles):
    # Reference keys hash the training code, and computing them imports
    # Keras, which this process does not: a child process checks them
    # (about 4 s, only when a plan reads reference runs).
    checked = subprocess.run([sys.executable, "-m", "lib.core.reference", "check", "--json", *map(str, bundles)],
                             cwd=paths.ROOT, capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"Checking the reference runs {[str(path) for path in bundles]} failed "
                           f"(python -m lib.core.reference check, exit status {checked.returncode}):\n{checked.stderr}")
    return set(json.loads(checked.stdout.strip().splitlines()[-1]))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lib.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=os.environ.get("PROFILE") or AUTO,
                        help="auto | smoke | quick | full (default: $PROFILE or auto: full with a GPU, quick without)")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""), help="data directory (default: $DATA_DIR or data/)")
    parser.add_argument("--reports-dir", default=str(paths.ROOT / "reports"), help="where executed notebooks and HTML go")
    parser.add_argument("--jobs", type=int, default=os.environ.get("JOBS") or "1",  # argparse converts it
                        help="runs trained at once by notebooks that train many (default: $JOBS or 1)")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (names without .ipynb)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="extra notebook parameter")
    parser.add_argument("--force", action="store_true", default=bool(os.environ.get("FORCE")),
                        help="execute notebooks even when their reports are up to date (default: $FORCE)")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--verbose", action="store_true", default=bool(os.environ.get("VERBOSE")),
                       help="stream every notebook's output (default: $VERBOSE; otherwise one line per training run, "
                            "the output in reports/<name>.log)")
    shown.add_argument("--quiet", action="store_false", dest="verbose", help="one line per training run (the default)")
    args = parser.parse_args(argv)
    console, interrupts = _Console(verbose=args.verbose), _Interrupts()
    with interrupts.installed():
        try:
            return _run(args, console, interrupts)
        except KeyboardInterrupt:  # Interrupted, in a notebook or between them
            for number in (signal.SIGINT, signal.SIGTERM):  # the clean-up runs to its end
                signal.signal(number, signal.SIG_IGN)
            console.say(console.stopped())
            if interrupts.reports_dir:
                report_index.build(interrupts.reports_dir, NOTEBOOK_DIR)
            return 130


def _run(args, console, interrupts):
    """`main` after the arguments are parsed: returns the exit status."""
    logging.getLogger("papermill").addFilter(_QUIET)
    try:
        profile, reason = resolve_profile(args.profile)
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
    if args.verbose:  # papermill streams cell output through its logger
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("papermill").setLevel(logging.INFO)
    reports_dir = interrupts.reports_dir = Path(args.reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    data_dir = paths.data_dir(args.data_dir)
    plan = []
    for notebook in selected:
        parameters = {"profile": profile, "data_dir": args.data_dir, **extra}
        if args.jobs > 1 and "jobs" in _parameters(notebook):
            parameters["jobs"] = args.jobs
        inputs = stamps.inputs(notebook, parameters, data_dir)
        reason_to_run = "--force" if args.force else stale_reason(notebook, inputs, reports_dir)
        plan.append((notebook, parameters, inputs, reason_to_run))
    names = [notebook.stem for notebook, *_, why in plan if why]
    print(plan_line(profile, reason, names, machine.nvidia_gpus(), *shipped_notebooks(names, profile)), flush=True)
    results = []
    for notebook, parameters, inputs, _ in plan:
        with notebook_lock(reports_dir, notebook.stem):
            # Asked again under the lock: a runner that held it may have just brought the report up to date.
            reason_to_run = "--force" if args.force else stale_reason(notebook, inputs, reports_dir)
            if reason_to_run is None:
                record = json.loads(record_path(reports_dir, notebook.stem).read_text())
                results.append((notebook.stem, "up to date", 0.0, None))
                print(f"<== {notebook.stem}: up to date (report of {record['provenance']['start']}; --force runs it again)", flush=True)
                continue
            print(f"==> {notebook.stem} ({reason_to_run})", flush=True)
            try:
                record = run_notebook(notebook, parameters, reports_dir, data_dir, inputs, console, interrupts)
            except OSError as error:  # no room for its record or scratch folder (a full disk): go on with the others
                record = {"status": "failed", "seconds": 0.0, "error": f"{type(error).__name__}: {error}"}
        results.append((notebook.stem, record["status"], record["seconds"], record["error"]))
        log = f"; its output is in {reports_dir / notebook.stem}.log"
        print(f"<== {notebook.stem}: {record['status']} in {record['seconds']:.1f} s"
              + (f" ({record['error']}{log})" if record["error"] else ""), flush=True)
    index = report_index.build(reports_dir, NOTEBOOK_DIR)
    print(f"\nSummary (profile {profile}, reports in {reports_dir}, index {index}):")
    for name, status, seconds, error in results:
        print(f"  {name:<24} {status:<10} {seconds:8.1f} s" + (f"  {error}" if error else ""))
    failed = sum(status == "failed" for _, status, _, _ in results)
    current = sum(status == "up to date" for _, status, _, _ in results)
    print(f"{len(results) - failed - current} passed, {failed} failed ({current} up to date)")
    return 1 if failed else 0
