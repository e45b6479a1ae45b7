"""Fault suite: killed runs resume, concurrent runs train once, broken files are redone."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_config, write_batch
from lib import paths
from lib.core import history, runs

EPOCHS = 6

# Trains one small run in a fresh process, as a notebook kernel would.
TRAIN = """
from lib.core import runs
from lib.core.config import RunConfig
session = runs.setup("smoke", {data!r})
config = RunConfig(session=session, study="a", model="cifar_cnn", data="cifar10", epochs={epochs}, model_kwargs={{"c1": 8, "c2": 8}},
                   data_kwargs={{"train_per_class": None, "test_per_class": 20}}, batch_size=16, optimizer="sgd",
                   momentum=0.5, seed=1)
run = runs.fit_cached(config)
print("STATUS", run.history["status"], len(run.history["epoch"]), flush=True)
"""


@pytest.fixture
def bigger_cifar(tmp_path):
    """2,000 training images: epochs long enough to be killed in the middle."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "data" / "cifar-10-batches-py"
    write_batch(folder / "data_batch_1", rng.integers(0, 256, (2000, 3072), dtype=np.uint8), np.arange(2000) % 10)
    write_batch(folder / "test_batch", rng.integers(0, 256, (200, 3072), dtype=np.uint8), np.arange(200) % 10)
    (folder / "batches.meta").write_bytes(__import__("pickle").dumps({"label_names": [str(i) for i in range(10)]}))
    return tmp_path / "data"


def _start(outputs, data, name, checkpoint_every=1):
    env = {**os.environ, "HISTORY_DIR": str(outputs / name), "CHECKPOINT_DIR": str(outputs / f"{name}_checkpoints"),
           "CHECKPOINT_EVERY": str(checkpoint_every)}
    script = TRAIN.format(data=str(data), epochs=EPOCHS)
    return subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _resume_epochs(checkpoint_dir):
    states = list(Path(checkpoint_dir).glob("a/*/resume.npz"))
    if not states:
        return 0
    try:
        with np.load(states[0]) as saved:
            return len(json.loads(str(saved["record"]))["epoch"])
    except Exception:  # being replaced at this moment
        return 0


def _only_history(directory):
    [path] = [p for p in (directory / "a").glob("*.json")]
    return history.read_history(path)


@pytest.mark.parametrize("kill_after_epoch, into_next_epoch", [(2, 0.1), (4, 0.6)])
def test_killed_run_resumes_to_the_uninterrupted_history(outputs, bigger_cifar, kill_after_epoch, into_next_epoch):
    reference = _start(outputs, bigger_cifar, "reference")
    assert "STATUS complete 6" in reference.communicate(timeout=300)[0]
    epoch_time = float(np.median(_only_history(outputs / "reference")["epoch_time_s"]))

    victim = _start(outputs, bigger_cifar, "resumed")
    deadline = time.time() + 240
    while _resume_epochs(outputs / "resumed_checkpoints") < kill_after_epoch:
        assert victim.poll() is None and time.time() < deadline, victim.communicate()[0]
        time.sleep(0.02)
    time.sleep(into_next_epoch * epoch_time)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not list((outputs / "resumed").glob("a/*.json")), "killed before the end: no history yet"

    restarted = _start(outputs, bigger_cifar, "resumed")
    output = restarted.communicate(timeout=300)[0]
    assert "STATUS complete 6" in output, output
    resumed_from = int(output.split("resuming after epoch ")[1].split()[0])
    assert resumed_from >= kill_after_epoch

    expected, got = _only_history(outputs / "reference"), _only_history(outputs / "resumed")
    assert got["epoch"] == list(range(1, EPOCHS + 1))
    assert got["config"] == expected["config"]
    for metric, values in expected["metrics"].items():
        np.testing.assert_allclose(got["metrics"][metric], values, rtol=1e-6, atol=1e-7, err_msg=metric)
    assert not list((outputs / "resumed_checkpoints").glob("a/*/resume.npz")), "resume state removed when done"


def test_two_processes_on_one_run_train_it_once(outputs, bigger_cifar):
    first = _start(outputs, bigger_cifar, "shared")
    time.sleep(0.5)
    second = _start(outputs, bigger_cifar, "shared")
    outputs_text = [process.communicate(timeout=300)[0] for process in (first, second)]
    assert all("STATUS complete 6" in text for text in outputs_text), outputs_text
    joined = "\n".join(outputs_text)
    assert joined.count("epoch 0/6") == 1, joined  # one process started training (its progress bar starts at 0)
    assert "another process is training this run" in joined and "cached" in joined
    assert len(list((outputs / "shared" / "a").glob("*.json"))) == 1
    _only_history(outputs / "shared")  # valid



def test_stale_lock_of_a_dead_process_is_taken_over(session, capsys):
    config = tiny_config(session)
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = paths.checkpoint_dir() / "a" / f"{config.key()}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))

    run = runs.fit_cached(config, progress=False)
    assert run.history["status"] == "complete"
    assert f"taking over the lock of process {dead.pid}, which died" in capsys.readouterr().err
    assert lock.read_text() == ""  # released


def _valid(config):
    return json.loads(runs.history_path(config).read_text()) if runs.history_path(config).is_file() else None


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda text: text[: len(text) // 2], "is not valid JSON"),
        (lambda text: "\x00\x01 not json", "is not valid JSON"),
        (lambda text: "[]", "holds a list, expected a JSON object"),
        (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "metrics"}), "lacks the fields ['metrics']"),
        (lambda text: json.dumps({**json.loads(text), "status": "running"}), "has status 'running'"),
        (lambda text: json.dumps({**json.loads(text), "epoch": [1, 1]}), "has epochs [1, 1]; expected 1, 2, ..., N."),
        (lambda text: json.dumps({**json.loads(text), "epoch_time_s": [0.1]}), "epoch_time_s does not have one value per epoch (2)"),
        (lambda text: json.dumps({**json.loads(text), "config": {"study": "b"}}), "belongs to another configuration"),
    ],
)
def test_broken_history_is_moved_aside_and_redone(session, capsys, damage, message):
    config = tiny_config(session)
    path = runs.fit_cached(config, progress=False).history_path
    broken = damage(path.read_text())
    path.write_text(broken)
    capsys.readouterr()

    run = runs.fit_cached(config, progress=False)
    error = capsys.readouterr().err
    assert f"warning: History file {path}" in error and message in error
    [aside] = path.parent.glob(f"{path.stem}.broken-*.json")
    assert aside.read_text() == broken
    assert history.read_history(path)["status"] == "complete" and run.history["epoch"] == [1, 2]


def test_diverging_run_is_recorded_and_not_retrained(session, capsys):
    config = tiny_config(session, lr=1e12, epochs=5)
    run = runs.fit_cached(config, progress=False)
    assert run.history["status"] == "diverged"
    assert run.history["diverged_at_epoch"] == len(run.history["epoch"]) < 5
    assert "diverged: the training loss is nan" in capsys.readouterr().err
    again = runs.fit_cached(config, progress=True)
    assert again.history == run.history and "cached" in capsys.readouterr().out
    summary = history.seed_summary([run.history])
    assert history.summary_table({"huge lr": summary}).loc["huge lr", "diverged"] == "1 of 1 seeds"
