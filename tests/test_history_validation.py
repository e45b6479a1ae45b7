"""Issue 21, defects 6, 7 and 8: incomplete histories, empty training sets, unwritable locations, resume-state write errors."""

import dataclasses
import errno
import json
import math
import os
import re
import tempfile

import keras
import numpy as np
import pytest

from conftest import tiny_config

from lib import files
from lib.core import checkpoints, history, runs

NAN, INF = float("nan"), float("inf")


def _history(status="complete", **metrics):
    """A valid two-epoch history; `metrics` replaces some of its four series."""
    metrics = {"loss": [2.0, 1.5], "accuracy": [0.2, 0.4], "test_loss": [2.1, 1.8], "test_accuracy": [0.1, 0.3]} | metrics
    return {"config": {}, "status": status, "provenance": {}, "epoch": [1, 2], "epoch_time_s": [1.0, 1.0], "wall_time_s": 2.0,
            "metrics": metrics, "final": {name: values[-1] for name, values in metrics.items()}}


def _without(mapping, key):
    return {name: value for name, value in mapping.items() if name != key}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: h | {"metrics": _without(h["metrics"], "test_accuracy")}, r"lacks the metrics \['test_accuracy'\]"),
        (lambda h: h | {"final": {}}, r"final lacks loss; expected 1.5"),
        (lambda h: h | {"final": h["final"] | {"test_accuracy": 0.9}}, r"final test_accuracy is 0.9; expected 0.3"),
        (lambda h: h | {"final": []}, r"has final of type list; expected a JSON object"),
        (lambda h: h | {"metrics": h["metrics"] | {"test_accuracy": ["0.1", "0.3"]}}, r"test_accuracy at epoch 1 is '0.1'; expected a number"),
        (lambda h: h | {"metrics": h["metrics"] | {"accuracy": [0.2, True]}}, r"accuracy at epoch 2 is True; expected a number"),
        (lambda h: h | {"metrics": h["metrics"] | {"test_loss": [NAN, 1.8]}}, r"test_loss at epoch 1 is nan; expected a finite number"),
        (lambda h: h | {"metrics": h["metrics"] | {"loss": [2.0, INF]}}, r"loss at epoch 2 is inf; expected a finite number"),
        (lambda h: h | {"metrics": h["metrics"] | {"loss": [2.0]}}, r"loss does not have one value per epoch \(2\)"),
        (lambda h: h | {"epoch_time_s": [1.0, NAN]}, r"epoch_time_s at epoch 2 is nan; expected a finite number"),
        (lambda h: h | {"wall_time_s": "2 s"}, r"wall_time_s is '2 s'; expected a number"),
    ],
)
def test_incomplete_history_is_rejected_naming_its_file(tmp_path, change, message):
    path = tmp_path / "run.json"
    files.write_json(path, change(_history()))
    with pytest.raises(ValueError, match=f"^History file {re.escape(str(path))}.*{message}"):
        history.read_history(path)


def test_only_the_last_epoch_of_a_diverged_run_may_be_nan(tmp_path):
    path = tmp_path / "run.json"
    files.write_json(path, _history("diverged", loss=[2.0, NAN], test_loss=[2.1, INF]))
    found = history.read_history(path)
    assert math.isnan(found["final"]["loss"]) and found["final"]["test_loss"] == INF
    files.write_json(path, _history("diverged", loss=[NAN, NAN]))
    with pytest.raises(ValueError, match=r"loss at epoch 1 is nan; expected a finite number \(only the last epoch of a diverged"):
        history.read_history(path)
    files.write_json(path, _history("complete", loss=[2.0, NAN]))
    with pytest.raises(ValueError, match=r"loss at epoch 2 is nan; expected a finite number"):
        history.read_history(path)



def test_cached_history_without_a_metric_is_moved_aside_and_redone(session, capsys):
    config = tiny_config(session)
    path = runs.fit_cached(config, progress=False).history_path
    damaged = json.loads(path.read_text())
    damaged["metrics"].pop("test_accuracy")
    path.write_text(json.dumps(damaged))

    run = runs.fit_cached(config, progress=False)
    assert f"warning: History file {path} lacks the metrics ['test_accuracy']" in capsys.readouterr().err
    assert len(list(path.parent.glob(f"{path.stem}.broken-*.json"))) == 1
    assert len(run.history["metrics"]["test_accuracy"]) == 2


def _no_data(config):
    raise AssertionError("the data were loaded before the locations were checked")


def _unwritable_history_dir(outputs, monkeypatch, config):
    (outputs / "a_file").write_text("")
    monkeypatch.setenv("HISTORY_DIR", str(outputs / "a_file"))
    return r"\[Errno 20\] Cannot write the history .*a_file/a/.*\.json: Not a directory .*Expected HISTORY_DIR \(.*a_file\) to be a writable"


def _history_path_is_a_directory(outputs, monkeypatch, config):
    runs.history_path(config).mkdir(parents=True)
    return r"\[Errno 21\] Cannot write the history .*\.json: it is a directory"


def _unwritable_checkpoint_dir(outputs, monkeypatch, config):
    (outputs / "a_file").write_text("")
    monkeypatch.setenv("CHECKPOINT_DIR", str(outputs / "a_file"))
    return r"Cannot write the checkpoints in .*a_file/a/\w+: Not a directory .*Expected CHECKPOINT_DIR \(.*a_file\) to be"


def _immutable_history_folder(outputs, monkeypatch, config):
    # As `chattr +i` does, even for root: creating a file in the folder fails.
    folder = runs.history_path(config).parent
    folder.mkdir(parents=True)
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and os.path.samefile(dir, folder):
            raise PermissionError(errno.EPERM, "Operation not permitted", os.path.join(dir, "file"))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return r"\[Errno 1\] Cannot write the history .*: Operation not permitted"


def _read_only_history_folder(outputs, monkeypatch, config):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = runs.history_path(config).parent
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    return r"\[Errno 13\] Cannot write the history .*: Permission denied"


@pytest.mark.parametrize("break_location", [_unwritable_history_dir, _history_path_is_a_directory, _unwritable_checkpoint_dir,
                                            _immutable_history_folder, _read_only_history_folder])
def test_unwritable_locations_fail_before_the_data_are_loaded(session, outputs, monkeypatch, break_location):
    config = tiny_config(session)
    message = break_location(outputs, monkeypatch, config)
    monkeypatch.setattr(runs, "load_data", _no_data)
    with pytest.raises(OSError, match=message):
        runs.fit_cached(config, progress=False)


@pytest.mark.parametrize("subset", ["train", "test"])
def test_a_data_set_without_examples_is_refused_before_training(session, monkeypatch, subset):
    config = tiny_config(session)
    arrays = runs.load_data(config)
    empty = {f"x_{subset}": getattr(arrays, f"x_{subset}")[:0], f"y_{subset}": getattr(arrays, f"y_{subset}")[:0]}
    monkeypatch.setattr(runs, "load_data", lambda config: dataclasses.replace(arrays, **empty))
    name = "training" if subset == "train" else "test"
    with pytest.raises(ValueError, match=re.escape(f"Data set 'cifar10' with data_kwargs={config.data_kwargs} has no {name} examples")):
        runs.fit_cached(config, progress=False)
    with pytest.raises(ValueError, match=r"Received: an empty order. Expected the indices of at least one training example."):
        runs._train_epoch(None, arrays, np.arange(0), batch_size=8)


def _test_loss_breaks_first(model, data, batch_size):
    """Epochs whose weights break in the last batch: the training loss is still finite, the test loss is not."""
    return lambda order: {"loss": 1.0, "accuracy": 0.1, "test_loss": float("nan"), "test_accuracy": 0.1}


def test_a_run_whose_test_loss_breaks_is_diverged_not_complete(session, monkeypatch, capsys):
    monkeypatch.setattr(runs, "_epoch_trainer", _test_loss_breaks_first)
    run = runs.fit_cached(tiny_config(session), progress=False)
    assert (run.history["status"], run.history["diverged_at_epoch"], run.history["epoch"]) == ("diverged", 1, [1])
    assert "diverged: test_loss is nan after epoch 1" in capsys.readouterr().err
    assert history.read_history(run.history_path)["status"] == "diverged"


def test_a_failed_resume_state_write_names_the_file(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "run" / "resume.npz"

    def file_too_large(*args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(np, "savez", file_too_large)
    with pytest.raises(OSError, match=f"^\\[Errno 27\\] Could not write the resume state {re.escape(str(path))}: File too large$"):
        checkpoints.save_state(path, model, {"epoch": [1]})
    assert list(path.parent.iterdir()) == []  # no partial file left
