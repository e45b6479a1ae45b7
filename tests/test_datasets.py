import os
import pickle

import numpy as np
import pytest

from conftest import write_batch
from lib import paths
from lib.core.data import images, splits


@pytest.mark.parametrize("protocol, bytes_keys", [(2, True), (4, False)])
def test_batch_keys_and_pixel_layout(tmp_path, protocol, bytes_keys):
    data = np.zeros((2, 3072), dtype=np.uint8)
    # Image 1, row 3, column 5: red 255, green 128, blue 51 (channel-first rows).
    for channel, value in enumerate((255, 128, 51)):
        data[1, channel * 1024 + 3 * 32 + 5] = value
    path = write_batch(tmp_path / "batch", data, [7, 2], protocol=protocol, bytes_keys=bytes_keys)

    pixels, labels = images.read_cifar_batch(path)

    assert pixels.shape == (2, 32, 32, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[1, 3, 5], [1.0, 128 / 255, 0.2])
    assert pixels[1].sum() == pytest.approx(1.0 + 128 / 255 + 0.2)
    assert labels.tolist() == [7, 2]


class _RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_pickle_naming_another_global_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({"data": _RunsCommand(f"touch {marker}"), "labels": []}))

    with pytest.raises(ValueError, match=r"Refusing to unpickle .*evil: it names the global '(posix|os)\.system'"):
        images.read_cifar_batch(path)
    assert not marker.exists()


def test_truncated_file_is_a_clear_error(tmp_path):
    path = write_batch(tmp_path / "batch", np.zeros((4, 3072), dtype=np.uint8), [0, 1, 2, 3])
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"batch is truncated or not a CIFAR-10 python batch"):
        images.read_cifar_batch(path)


def test_wrong_shape_is_a_clear_error(tmp_path):
    path = write_batch(tmp_path / "batch", np.zeros((4, 100), dtype=np.uint8), [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"data has shape \(4, 100\) and 4 labels; expected \(N, 3072\)"):
        images.read_cifar_batch(path)


def test_missing_file_and_failed_download_name_path_and_remedy(tmp_path, monkeypatch):
    # Port 9 on loopback refuses connections: the download fails at once, offline.
    monkeypatch.setattr(images, "CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    expected = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    with pytest.raises(FileNotFoundError) as raised:
        images.load_cifar10(data_dir=str(tmp_path))
    message = str(raised.value)
    assert f"CIFAR-10 file data_batch_1 not found at {expected}" in message
    assert "downloading http://127.0.0.1:9/cifar-10-python.tar.gz failed" in message
    assert images.CIFAR10_SHA256 in message and "DATA_DIR" in message


def test_first_per_class_keeps_file_order():
    labels = np.array([1, 0, 1, 1, 0, 2, 0])
    assert splits.first_per_class(labels, 2).tolist() == [0, 1, 2, 4, 5]
    assert splits.first_per_class(labels, None).tolist() == list(range(7))
    with pytest.raises(ValueError, match=r"Received: per_class=0"):
        splits.first_per_class(labels, 0)


def test_load_cifar10_subsets_and_provenance(tiny_cifar):
    data = images.load_cifar10(data_dir=str(tiny_cifar), train_per_class=3, test_per_class=2)
    assert data.x_train.shape == (30, 32, 32, 3) and data.x_test.shape == (20, 32, 32, 3)
    assert np.bincount(data.y_test).tolist() == [2] * 10
    assert data.class_names[3] == "class3"
    assert data.files["test_batch"]["copy"] == "official download or user-provided"
    assert len(data.files["test_batch"]["sha256"]) == 64


def test_shared_offline_copy_is_recognised():
    folder = paths.data_dir() / images.CIFAR10_DIR
    if not (folder / "test_batch").is_file():
        pytest.skip(f"no CIFAR-10 data under {folder} (set DATA_DIR)")
    data = images.load_cifar10()
    assert data.x_train.shape == (10000, 32, 32, 3)
    assert data.x_test.shape == (2000, 32, 32, 3)
    assert np.bincount(data.y_test).tolist() == [200] * 10
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
