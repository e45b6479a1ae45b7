import pickle

import numpy as np
import pytest

from lib import paths
from lib.core import runs
from lib.core.config import RunConfig, Session
from lib.core.data import images


def write_batch(path, data, labels, protocol=4, bytes_keys=False):
    """Write a CIFAR-10 python batch as the official files (bytes keys) or str keys."""
    batch = {"batch_label": "test batch", "labels": list(map(int, labels)), "data": data, "filenames": ["x.png"] * len(labels)}
    if bytes_keys:
        batch = {key.encode(): value for key, value in batch.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(batch, file, protocol=protocol)
    return path


@pytest.fixture(autouse=True)
def no_course_trim_download(monkeypatch):
    """Tests never reach the internet: the course's test_batch_trim is refused at once (tests/test_downloads.py serves its own)."""
    monkeypatch.setattr(images, "TRIM_URL", "http://127.0.0.1:9/test_batch_trim")


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
    """The smoke profile's session on the tiny data (`session.data_dir`), outputs in a temporary folder."""
    return runs.setup("smoke", str(tiny_cifar))


def session_for(profile, data_dir="data"):
    """A session of `profile` without setting anything up: for tests that only build configs."""
    return Session(profile, paths.data_dir(data_dir))


def tiny_config(session, **overrides):
    """A two-epoch Study A run on 30 training and 20 test images of the tiny data, in batches of 8."""
    settings = dict(session=session, study="a", model="cifar_cnn", data="cifar10", epochs=2, model_kwargs={"c1": 4, "c2": 6},
                    data_kwargs={"train_per_class": 3, "test_per_class": 2}, batch_size=8)
    return RunConfig(**{**settings, **overrides})


def write_parameterised_notebook(path, code):
    """A notebook at `path` as the runner expects one: a `parameters` cell (profile, data_dir), then `code`."""
    import nbformat  # not in make test-jax's light environment, whose tests write no notebooks

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile: str = "smoke"\ndata_dir: str = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)

