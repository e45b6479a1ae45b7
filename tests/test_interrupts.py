"""Ctrl-C and SIGTERM stop the runner cleanly mid-training, and the next run resumes from the resume state.

The runner runs in a session of its own, as under a terminal, and is stopped
as a terminal's Ctrl-C stops it (SIGINT to its process group) or by SIGTERM
to its process alone. Its kernel, in a session of its own too, gets neither.
"""

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from conftest import write_parameterised_notebook
from lib import paths
from lib.runner import execute

EPOCHS = 400  # ~0.1 s each on 60 tiny images: a signal always lands mid-training
LABEL = "a cifar_cnn c1=50 c2=60 batch_size=8 seed 0"
STOPPED = re.compile(rf"Interrupted train during run {LABEL} \(epoch (\d+)/{EPOCHS}\); `make all` resumes it from its last checkpoint\.")
_TRAIN = f"""\
from lib.core import runs
from lib.core.config import RunConfig

session = runs.setup(profile, data_dir)
config = RunConfig(session=session, study="a", model="cifar_cnn", data="cifar10", epochs={EPOCHS}, batch_size=8,
                   model_kwargs={{"c1": 50, "c2": 60}}, data_kwargs={{"train_per_class": 6, "test_per_class": 4}})
run = runs.fit_cached(config)
"""


@pytest.fixture
def notebook_dir(outputs, monkeypatch):
    """A folder holding `train.ipynb`, which trains one run of EPOCHS epochs; resume states every 2 epochs."""
    folder = outputs / "notebooks"
    folder.mkdir()
    write_parameterised_notebook(folder / "train.ipynb", _TRAIN)
    monkeypatch.setenv("CHECKPOINT_EVERY", "2")
    return folder


def _start(notebook_dir, reports_dir, data_dir, ignore_sigint=False):
    """The runner in a session of its own; with `ignore_sigint`, started as `cmd &` in a script starts it."""
    code = ("import sys; from pathlib import Path; from lib.runner import execute; "
            f"execute.NOTEBOOK_DIR = Path({str(notebook_dir)!r}); raise SystemExit(execute.main(sys.argv[1:]))")
    return subprocess.Popen(
        [sys.executable, "-c", code, "--profile", "smoke", "--data-dir", str(data_dir), "--reports-dir", str(reports_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=paths.ROOT, start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None)


def _wait_for(log, found, process, seconds=180):
    """`found(text)` of the notebook's log once it is true, waiting for it while `process` runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        result = found(log.read_text(errors="replace")) if log.exists() else None
        if result:
            return result
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"{found.__doc__} never came in {log}:\n{process.communicate()[0]}")


def _epoch_at_least(epoch, after=""):
    def found(text):
        """an epoch of at least %d after %r"""
        if after:
            text = text.partition(after)[2]
        return max(map(int, re.findall(rf"epoch (\d+)/{EPOCHS}", text)), default=0) >= epoch

    found.__doc__ %= (epoch, after)
    return found


def _resumed(text):
    """the line that says the run resumed"""
    return re.search(r"\[(.+)\] resuming after epoch (\d+) of (\d+)", text)


def _stop(process, send):
    """Send the signal while training; returns (exit status, console output, the kernels it had, when)."""
    kernels = psutil.Process(process.pid).children(recursive=True)
    assert kernels, "the runner has no kernel"
    sent = time.time()
    send(process.pid)
    out = process.communicate(timeout=120)[0]
    return process.returncode, out, kernels, sent


def _assert_stopped_cleanly(stopped, outputs, reason):
    """Exit 130, one line after the notebook's, no debris, the index rebuilt, the previous report kept.

    Returns the epoch that the line says the run was at.
    """
    returncode, out, kernels, sent = stopped
    reports_dir = outputs / "reports"
    assert returncode == 130, out
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1] == f"==> train ({reason})" and STOPPED.fullmatch(lines[2]), out
    assert "Traceback" not in out
    for name in ("train.html", "train.ipynb"):
        assert (reports_dir / name).read_text() == "the previous report"
    assert sorted(p.name for p in reports_dir.iterdir()) == [
        ".train.lock", "index.html", "train.html", "train.ipynb", "train.log", "train.run.json"]
    record = json.loads(execute.record_path(reports_dir, "train").read_text())
    assert record["status"] == "interrupted" and record["inputs"] is None
    assert (reports_dir / "index.html").stat().st_mtime >= sent
    page = (reports_dir / "index.html").read_text()
    row = page[page.index('<tr id="row-train"'):].split("</tr>")[0]
    assert "interrupted" in row and "train.html" not in row  # no link to the earlier report
    alive = [p for p in kernels if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert not [p for p in outputs.rglob("*") if p.name.endswith(".tmp") or ".running-" in p.name]
    locks = [reports_dir / ".train.lock", *(outputs / "checkpoint_dir" / "a").glob("*.lock")]
    assert len(locks) == 2
    log = (reports_dir / "train.log").read_text(errors="replace")
    for lock in locks:  # released, with nobody named as holder (a kernel killed after GRACE would be named)
        assert lock.read_text() == "", f"{lock.name} still names its holder; kernels {kernels}; the log ends:\n{log[-3000:]}"
        with open(lock) as file:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return int(STOPPED.fullmatch(lines[2])[1])


def _saved_epochs(outputs):
    [state] = (outputs / "checkpoint_dir" / "a").glob("*/resume.npz")
    with np.load(state) as saved:
        return len(json.loads(str(saved["record"]))["epoch"])


def test_ctrl_c_then_sigterm_stop_cleanly_and_the_next_run_resumes(notebook_dir, outputs, tiny_cifar):
    reports_dir = outputs / "reports"
    reports_dir.mkdir()
    for name in ("train.html", "train.ipynb"):
        (reports_dir / name).write_text("the previous report")
    log = reports_dir / "train.log"

    # Ctrl-C in a terminal: SIGINT to the process group, here to a runner that inherited SIGINT ignored.
    first = _start(notebook_dir, reports_dir, tiny_cifar, ignore_sigint=True)
    _wait_for(log, _epoch_at_least(6), first)
    shown = _assert_stopped_cleanly(_stop(first, lambda pid: os.killpg(pid, signal.SIGINT)), outputs, "not run before")
    saved = _saved_epochs(outputs)
    assert 6 <= saved <= shown and saved % 2 == 0

    # The next run resumes from the resume state; SIGTERM to the runner alone stops it as cleanly.
    second = _start(notebook_dir, reports_dir, tiny_cifar)
    assert _wait_for(log, _resumed, second).groups() == (LABEL, str(saved), str(EPOCHS))
    _wait_for(log, _epoch_at_least(saved + 2, after="resuming"), second)
    stopped = _stop(second, lambda pid: os.kill(pid, signal.SIGTERM))
    shown_again = _assert_stopped_cleanly(stopped, outputs, "its last run was interrupted")
    assert shown_again >= saved + 2 and _saved_epochs(outputs) >= saved


def test_a_signal_while_the_runner_starts_says_one_line(outputs, tiny_cifar):
    # `python -m lib.runner` as `make all` starts it: the signal comes during its imports or its plan.
    process = subprocess.Popen(
        [sys.executable, "-m", "lib.runner", "--profile", "smoke", "--only", "a_q4_compare", "--data-dir", str(tiny_cifar),
         "--reports-dir", str(outputs / "reports")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=paths.ROOT, start_new_session=True)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    out = process.communicate(timeout=60)[0]
    assert process.returncode == 130, out
    assert out.splitlines()[-1] in ("Interrupted before anything ran.", "Interrupted; `make all` resumes where it stopped.",
                                    "Interrupted a_q4_compare; `make all` resumes it."), out
    assert "Traceback" not in out and not list(Path(outputs).rglob("*.running-*"))
