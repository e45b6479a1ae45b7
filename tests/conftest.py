import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import runs  # noqa: E402


def write_batch(path, data, labels, protocol=4, bytes_keys=False):
    """Write a CIFAR-10 python batch as the official files (bytes keys) or str keys."""
    batch = {"batch_label": "test batch", "labels": list(map(int, labels)), "data": data, "filenames": ["x.png"] * len(labels)}
    if bytes_keys:
        batch = {key.encode(): value for key, value in batch.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(batch, file, protocol=protocol)
    return path


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Send histories, checkpoints and figures to a temporary folder."""
    for variable in ("HISTORY_DIR", "CHECKPOINT_DIR", "FIGURE_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    return tmp_path


@pytest.fixture
def tiny_cifar(tmp_path):
    """A data directory with a 60-image training batch and a 40-image test batch."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    folder = root / "cifar-10-batches-py"
    write_batch(folder / "data_batch_1", rng.integers(0, 256, (60, 3072), dtype=np.uint8), np.arange(60) % 10)
    write_batch(folder / "test_batch", rng.integers(0, 256, (40, 3072), dtype=np.uint8), np.arange(40) % 10)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, file)
    return root


@pytest.fixture
def session(outputs, tiny_cifar):
    """runs.setup on the tiny data, restored afterwards."""
    saved = dict(runs._session)
    runs.setup("smoke", str(tiny_cifar))
    yield tiny_cifar
    runs._session.update(saved)
