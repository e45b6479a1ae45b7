"""Every user-facing entry point answers a wrong value with one clear message and changes no file."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_batch
from lib.core import config, models, runs
from lib.core.config import RunConfig
from lib.core.data import images
from lib.runner import execute
from lib.studies import a as study_a

ROOT = Path(__file__).resolve().parent.parent


def _snapshot(*folders):
    files = {}
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file() and ".venv" not in path.parts and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts:
                files[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _config(**overrides):
    settings = dict(study="a", model="cifar_cnn", data="cifar10", epochs=2)
    return RunConfig(**{**settings, **overrides})


def _runner(*argv):
    def call(tmp_path):
        code = execute.main(["--reports-dir", str(tmp_path / "reports"), "--quiet", *argv])
        if code != 2:
            raise AssertionError(f"exit status {code}, expected 2")
        raise SystemExit(code)

    return call


def _batch(data, labels):
    def call(tmp_path):
        path = write_batch(tmp_path / "batch", data, labels)
        images.read_cifar_batch(path)

    return call


CASES = [
    ("runner profile", _runner("--profile", "fast"), SystemExit, "Unknown profile: 'fast'. Expected one of ('auto', 'smoke', 'quick', 'full')."),
    ("runner notebook", _runner("--only", "b_q9"), SystemExit, "Unknown notebook: 'b_q9'."),
    ("runner parameter name", _runner("-p", "lr=0.1"), SystemExit, "Unknown parameter 'lr' for notebook a_q1_cnn. Valid parameters: profile, data_dir, epochs, seed."),
    ("runner parameter syntax", _runner("-p", "seed"), SystemExit, "Invalid parameter: 'seed'. Expected name=value, e.g. seed=1."),
    ("runner parameter type", _runner("-p", "epochs=ten"), SystemExit, "Invalid value for parameter 'epochs' of notebook a_q1_cnn: 'ten'. Expected int."),
    ("runner parameter bool", _runner("-p", "seed=True"), SystemExit, "Invalid value for parameter 'seed' of notebook a_q1_cnn: True. Expected int."),
    ("runner jobs", _runner("--jobs", "-1"), SystemExit, "Invalid value for --jobs. Received: -1. Expected a positive integer."),
    ("profile", lambda tmp_path: config.profile_settings(study_a.PROFILES, "medium", "a"), ValueError, "Unknown profile: 'medium'. Expected one of ('smoke', 'quick', 'full')."),
    ("epochs override", lambda tmp_path: config.profile_settings(study_a.PROFILES, "quick", "a", epochs=-5), ValueError, "Invalid value for `epochs`. Received: epochs=-5. Expected a positive integer."),
    ("seeds override", lambda tmp_path: config.profile_settings(study_a.PROFILES, "quick", "a", seeds=0), ValueError, "Invalid value for `seeds`. Received: seeds=0. Expected a positive integer."),
    ("optimizer", lambda tmp_path: _config(optimizer="adagrad"), ValueError, "Unknown optimizer: 'adagrad'. Expected one of ('sgd', 'rmsprop', 'adam')."),
    ("learning rate", lambda tmp_path: _config(lr=-0.1), ValueError, "Invalid value for `lr`. Received: lr=-0.1. Expected a positive number."),
    ("clipvalue", lambda tmp_path: _config(clipvalue=-2), ValueError, "Invalid value for `clipvalue`. Received: clipvalue=-2. Expected a non-negative number (0: no clipping)."),
    ("seed", lambda tmp_path: _config(seed="one"), ValueError, "Invalid value for `seed`. Received: seed='one'. Expected a non-negative integer."),
    ("batch size", lambda tmp_path: _config(batch_size=0), ValueError, "Invalid value for `batch_size`. Received: batch_size=0. Expected a positive integer."),
    ("channels", lambda tmp_path: models.build_cifar_cnn(c1=-3), ValueError, "Invalid value for `c1`. Received: c1=-3. Expected a positive integer."),
    ("momentum with adam", lambda tmp_path: models.make_optimizer("adam", 0.1, momentum=0.5), ValueError, "`momentum` applies to 'sgd' only."),
    ("training batches", lambda tmp_path: images.cifar10_files(str(tmp_path), train_batches=6), ValueError, "Invalid value for `train_batches`. Received: train_batches=6. Expected an integer from 1 to 5."),
    ("batch file missing", lambda tmp_path: images.read_cifar_batch(tmp_path / "nothing"), FileNotFoundError, "CIFAR-10 batch not found: "),
    ("batch shape", _batch(np.zeros((3, 10), dtype=np.uint8), [0, 1, 2]), ValueError, "data has shape (3, 10) and 3 labels; expected (N, 3072) and N labels."),
    ("batch labels", _batch(np.zeros((3, 3072), dtype=np.uint8), [0, 1]), ValueError, "data has shape (3, 3072) and 2 labels; expected (N, 3072) and N labels."),
    ("checkpoint setting", lambda tmp_path: (os.environ.__setitem__("CHECKPOINT_EVERY", "often"), runs.checkpoint_every()), ValueError, "Invalid value for CHECKPOINT_EVERY. Received: 'often'. Expected a positive integer."),
]


@pytest.mark.parametrize("name, call, error, message", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(tmp_path, monkeypatch, capsys, name, call, error, message):
    monkeypatch.setenv("CHECKPOINT_EVERY", "10")
    before = _snapshot(tmp_path, ROOT / "histories", ROOT / "figures", ROOT / "notebooks")
    with pytest.raises(error) as raised:
        call(tmp_path)
    text = capsys.readouterr().err if error is SystemExit else str(raised.value)
    assert message in text
    after = _snapshot(tmp_path, ROOT / "histories", ROOT / "figures", ROOT / "notebooks")
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path) and path.name != "batch"}
    assert not changed and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "variables, message",
    [
        (["PROFILE=fast"], "error: Unknown profile: 'fast'. Expected one of ('auto', 'smoke', 'quick', 'full')."),
        (["JOBS=two"], "argument --jobs: invalid int value: 'two'"),
        (["ONLY=a_q9"], "error: Unknown notebook: 'a_q9'."),
    ],
)
def test_makefile_variables_are_checked(tmp_path, variables, message):
    venv = Path(sys.prefix)  # the environment running the tests: .venv, or .venv-backends under make test-backends
    if not (venv / ".installed").exists():
        pytest.skip("make all needs the project's .venv (make test creates it)")
    before = _snapshot(ROOT / "histories", ROOT / "figures")
    result = subprocess.run(["make", "-s", "all", f"VENV={venv}", *variables], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and message in result.stderr
    assert _snapshot(ROOT / "histories", ROOT / "figures") == before
