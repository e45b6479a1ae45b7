"""The runner's own safety: concurrent runners, full disks, killed runners, file modes."""

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import write_parameterised_notebook
from lib import files, paths
from lib.runner import execute, index, stamps

FIXTURES = Path(__file__).parent / "notebooks"

# Reads a history file, says that it waits, then waits until the file named by $RELEASE exists: the test
# decides when it ends.
_WAITS = """\
import json, os, time
from pathlib import Path

value = json.loads((Path(os.environ["HISTORY_DIR"]) / "inputs" / "value.json").read_text())
Path(os.environ["RELEASE"]).with_suffix(".waiting").touch()
while not Path(os.environ["RELEASE"]).exists():
    time.sleep(0.05)
print(f"value {value}")
"""


@pytest.fixture
def waits(outputs, monkeypatch):
    """A notebook folder holding `waits.ipynb`, its input file written and $RELEASE set."""
    folder = outputs / "notebooks"
    folder.mkdir()
    write_parameterised_notebook(folder / "waits.ipynb", _WAITS)
    inputs = outputs / "history_dir" / "inputs"
    inputs.mkdir(parents=True)
    (inputs / "value.json").write_text("42")
    monkeypatch.setenv("RELEASE", str(outputs / "release"))
    (outputs / "data").mkdir()
    return folder


@pytest.fixture
def runner():
    """Starts `python -m lib.runner` in a child process, reading its notebooks from `notebook_dir`.

    Runners (and their kernels) still alive when the test ends are killed.
    """
    started = []

    def start(notebook_dir, *argv, **options):
        code = ("import sys; from pathlib import Path; from lib.runner import execute; "
                f"execute.NOTEBOOK_DIR = Path({str(notebook_dir)!r}); raise SystemExit(execute.main(sys.argv[1:]))")
        data_dir = Path(notebook_dir).parent / "data"
        started.append(subprocess.Popen(
            [sys.executable, "-c", code, "--profile", "smoke", "--data-dir", str(data_dir), "--quiet", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=paths.ROOT, **options))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.communicate()


def _survivors(processes, seconds=10):
    """Those of `processes` still running after `seconds` (a zombie has ended: only its exit status is left)."""
    def lives(process):
        try:
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + seconds
    while any(map(lives, processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [process for process in processes if lives(process)]


def _until(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds} s for {condition.__name__}")
        time.sleep(0.05)


def test_two_runners_on_one_notebook_take_turns_and_its_record_stays_whole(waits, outputs, runner):
    reports_dir = outputs / "reports"
    record_path = execute.record_path(reports_dir, "waits")
    first = runner(waits, "--reports-dir", str(reports_dir), "--only", "waits", "--force")
    _until((outputs / "release.waiting").exists)
    second = runner(waits, "--reports-dir", str(reports_dir), "--only", "waits")
    assert second.stdout.readline().startswith("Profile smoke: 1 notebook to run, about ")
    busy = second.stdout.readline()
    assert busy == f"... waits: busy, process {first.pid} on {socket.gethostname()} is executing it; waiting for it\n"
    (outputs / "release").touch()
    for process, summary in ((first, "1 passed, 0 failed (0 up to date)"), (second, "0 passed, 0 failed (1 up to date)")):
        out = process.communicate(timeout=120)[0]
        assert process.returncode == 0 and summary in out, out

    record = json.loads(record_path.read_text())
    value = str(outputs / "history_dir" / "inputs" / "value.json")
    assert record["status"] == "ok" and value in record["files"]
    written = [".waits.lock", "index.html", "waits.html", "waits.ipynb", "waits.log", "waits.run.json"]
    assert sorted(p.name for p in reports_dir.iterdir()) == written  # no trace log or scratch folder left
    os.remove(value)  # its input gone, the notebook is out of date again
    assert stamps.changed(record["files"]) == value


def test_a_failed_report_write_keeps_the_previous_report_and_the_runner_goes_on(outputs, runner):
    folder, reports_dir = outputs / "notebooks", outputs / "reports"
    folder.mkdir()
    (outputs / "data").mkdir()
    for name in ("a_first", "b_second"):
        shutil.copy(FIXTURES / "reads_input.ipynb", folder / f"{name}.ipynb")
    reports_dir.mkdir()
    for name in ("a_first.html", "a_first.ipynb"):
        (reports_dir / name).write_text("the previous report")

    def limit():  # no file may grow past 100 kB: writing a report (~280 kB of HTML) fails, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))

    process = runner(folder, "--reports-dir", str(reports_dir), preexec_fn=limit)
    out = process.communicate(timeout=120)[0]

    assert process.returncode == 1, out
    assert "0 passed, 2 failed (0 up to date)" in out and "Traceback" not in out
    assert "its report was not written (OSError: [Errno 27] File too large)" in out
    for name in ("a_first.html", "a_first.ipynb"):
        assert (reports_dir / name).read_text() == "the previous report"
    assert not (reports_dir / "b_second.html").exists()
    for name in ("a_first", "b_second"):
        record = json.loads(execute.record_path(reports_dir, name).read_text())
        assert record["status"] == "failed" and "File too large" in record["error"]
    assert not list(reports_dir.glob(".*.running-*"))


@pytest.mark.parametrize("where, relation", [("notebooks", "is"), ("notebooks/out", "is inside"), (".", "contains")])
def test_the_reports_may_not_go_among_the_source_notebooks(tmp_path, monkeypatch, capsys, where, relation):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(FIXTURES / "reads_input.ipynb", folder)
    source = (folder / "reads_input.ipynb").read_bytes()
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", folder)
    monkeypatch.chdir(tmp_path)

    assert execute.main(["--reports-dir", where, "--profile", "smoke", "--only", "reads_input", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"error: Invalid value for --reports-dir: {where!r} {relation} the folder of the source notebooks ({folder}). "
        "Expected a folder apart from it, e.g. reports/ (the default).\n")
    assert (folder / "reads_input.ipynb").read_bytes() == source
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["notebooks", "reads_input.ipynb"]


# Makes a Pool(2) whose workers each start a long task, says "ready" and waits to be killed. Workers re-run
# this file's top level (spawn): a stand-in for lib.core.backend spares them importing TensorFlow.
_POOL_OWNER = """\
import sys, time, types
from pathlib import Path

backend = types.ModuleType("lib.core.backend")
backend.set_threads = backend.make_deterministic = lambda *args: None
sys.modules["lib.core.backend"] = backend
from lib.core import pool


def task(marker):
    Path(marker).touch()
    time.sleep(600)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    with pool.Pool(2) as workers:
        for worker in range(2):
            workers._executor.submit(task, folder / f"started-{worker}")
        while len(list(folder.glob("started-*"))) < 2:
            time.sleep(0.05)
        print("ready", flush=True)
        time.sleep(600)
"""


def test_pool_workers_die_with_their_parent(tmp_path):
    script = tmp_path / "pool_owner.py"
    script.write_text(_POOL_OWNER)
    owner = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(paths.ROOT)})
    try:
        assert owner.stdout.readline() == "ready\n"
        children = psutil.Process(owner.pid).children(recursive=True)
        assert len(children) == 3  # two workers and multiprocessing's resource tracker
    finally:
        owner.kill()
        owner.wait()
    alive = _survivors(children)
    for process in alive:  # not to leave them behind when the test fails
        process.kill()
    assert alive == []


def test_a_runner_killed_mid_notebook_reads_as_interrupted(waits, outputs, runner):
    reports_dir = outputs / "reports"
    reports_dir.mkdir()
    (reports_dir / "waits.html").write_text("the previous report")
    record_path = execute.record_path(reports_dir, "waits")
    process = runner(waits, "--reports-dir", str(reports_dir), "--only", "waits")
    _until((outputs / "release.waiting").exists)
    kernels = psutil.Process(process.pid).children(recursive=True)
    process.kill()
    process.communicate()

    record = json.loads(record_path.read_text())
    assert (record["status"], record["pid"], record["inputs"]) == ("running", process.pid, None)
    page = index.build(reports_dir, waits).read_text()
    row = page[page.index('<tr id="row-waits">'):].split("</tr>")[0]
    assert '<span class="interrupted">interrupted</span>: run started ' in row and f"by process {process.pid}" in row
    assert "waits.html" not in row  # no link to the previous run's report
    assert execute.stale_reason(waits / "waits.ipynb", "any", reports_dir) == "its last run was interrupted"
    assert _survivors(kernels) == []  # the kernel sees its runner gone within a second or so

    (scratch,) = reports_dir.glob(".waits.running-*")  # the kernel's files, left by the killed runner ...
    assert (scratch / "ipython").is_dir() and len(list(scratch.glob("tmp*.json"))) == 1  # its connection file
    with execute.notebook_lock(reports_dir, "waits"):  # ... are removed by the next runner
        assert not scratch.exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    saved = os.umask(umask)
    try:
        files.write_json(tmp_path / "run.json", {"status": "ok"})
        with files.atomic_file(tmp_path / "index.html") as file:
            file.write("<html></html>")
    finally:
        os.umask(saved)
    assert [oct(path.stat().st_mode & 0o777) for path in sorted(tmp_path.iterdir())] == [oct(mode)] * 2


def test_the_default_reports_dir_is_accepted():
    execute.check_reports_dir(paths.ROOT / "reports")
