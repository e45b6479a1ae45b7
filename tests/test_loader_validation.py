"""Loaders refuse data that is not what they expect, before any work, with a message that names the file."""

import codecs
import pickle
import re
import tracemalloc

import numpy as np
import pytest
from numpy._core.multiarray import _reconstruct

from conftest import write_batch
from lib.core.data import images, splits, text


class _Pickled:
    """Pickles as `function(*args)`, then BUILD with `state` when given: a hand-made pickle."""

    def __init__(self, function, args, state=None):
        self.reduced = (function, args) if state is None else (function, args, state)

    def __reduce__(self):
        return self.reduced


def _cifar_folder(tmp_path, meta):
    folder = tmp_path / "cifar-10-batches-py"
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "test_batch"):
        write_batch(folder / name, rng.integers(0, 256, (20, 3072), dtype=np.uint8), np.arange(20) % 10)
    (folder / "batches.meta").write_bytes(meta)
    return folder


# CIFAR-10 batches


@pytest.mark.parametrize(
    "data, labels, message",
    [
        (np.full((2, 3072), 0.5), [0, 1], r"data: pixel values must be integers from 0 to 255 \(uint8\); images already "
                                          r"scaled to \[0, 1\] are not accepted. Received: dtype float64."),
        (np.full((2, 3072), 256), [0, 1], r"data: pixel values must be integers from 0 to 255. Received: values from 256 to 256."),
        (np.zeros((2, 3072), np.uint8), [0, 10], r"labels: labels must be integers from 0 to 9. Received: \[10\]."),
        (np.zeros((2, 3072), np.uint8), [-1, 3], r"labels: labels must be integers from 0 to 9. Received: \[-1\]."),
        (np.zeros((2, 3072), np.uint8), [0.0, 1.5], r"labels: labels must be integers from 0 to 9. Received: dtype float64."),
        (np.zeros((0, 3072), np.uint8), [], r"labels: expected a non-empty list of labels; an empty split cannot be trained"),
    ],
    ids=["float images", "pixel 256", "label 10", "label -1", "float labels", "empty batch"],
)
def test_batch_with_wrong_values_is_refused_naming_the_file(tmp_path, data, labels, message):
    path = tmp_path / "batch"
    with open(path, "wb") as file:
        pickle.dump({"data": data, "labels": labels}, file)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ", " + message):
        images.read_cifar_batch(path)


def test_integer_pixels_of_any_dtype_read_as_uint8(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 3072))
    wide = write_batch(tmp_path / "int64", pixels, [0, 1, 2])
    narrow = write_batch(tmp_path / "uint8", pixels.astype(np.uint8), [0, 1, 2])
    np.testing.assert_array_equal(images.read_cifar_batch(wide)[0], images.read_cifar_batch(narrow)[0])


@pytest.mark.parametrize(
    "data, message",
    [
        # 96 bytes that ask numpy for 61 MB of uninitialised "images" and labels.
        (_Pickled(np.ndarray, ((20000, 3072), "u1")), r"declares an array of shape \(20000, 3072\) and dtype uint8 \(61,440,000 bytes\)"),
        (_Pickled(np.ndarray, ((2**40,), "u1")), r"declares an array of shape \(1099511627776,\) and dtype uint8"),
        # An empty array whose state then claims 2**40 Python objects.
        (_Pickled(_reconstruct, (np.ndarray, (0,), b"b"), (1, (2**40,), np.dtype("O"), False, [])),
         r"declares an array of shape \(1099511627776,\) and dtype object"),
    ],
    ids=["61 MB", "1 TiB", "1 TiB of objects"],
)
def test_pickle_claiming_more_memory_than_the_file_holds_is_refused_before_allocation(tmp_path, data, message):
    path = tmp_path / "bomb"
    path.write_bytes(pickle.dumps({"data": data, "labels": _Pickled(np.ndarray, ((20000,), "i8"))}, protocol=2))
    assert path.stat().st_size < 300
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"Refusing to unpickle {re.escape(str(path))}: it {message}"):
            images.read_cifar_batch(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_pickle_growing_bytes_with_another_codec_is_refused(tmp_path):
    # hex doubles its input: nested calls would grow a few bytes of file into any size.
    path = tmp_path / "batch"
    batch = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "batch_label": _Pickled(codecs.encode, (b"ab", "hex"))}
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=r"Refusing to unpickle .*batch: it calls _codecs.encode with encoding 'hex'"):
        images.read_cifar_batch(path)


@pytest.mark.parametrize(
    "meta, message",
    [
        (pickle.dumps({"label_names": [f"c{i}" for i in range(10)]})[:30],
         r"batches.meta is truncated or not a CIFAR-10 batches.meta file \(UnpicklingError: pickle data was truncated\)."),
        (b"", r"batches.meta is truncated or not a CIFAR-10 batches.meta file \(EOFError"),
        (pickle.dumps({"label_names": ["a", "b", "c"]}),
         r"batches.meta: `label_names` must be a list of 10 class names. Received: \['a', 'b', 'c'\]."),
        (pickle.dumps(["a"] * 10), r"batches.meta: `label_names` must be a list of 10 class names. Received: None."),
        (pickle.dumps({b"label_names": [1] * 10}), r"batches.meta: `label_names` must be a list of 10 class names. Received: \[1, 1,"),
    ],
    ids=["truncated", "empty", "three names", "not a dict", "numbers"],
)
def test_damaged_batches_meta_is_refused_naming_the_file(tmp_path, meta, message):
    folder = _cifar_folder(tmp_path, meta)
    with pytest.raises(ValueError, match=re.escape(str(folder)) + "/" + message):
        images.load_cifar10(tmp_path)


def test_official_bytes_label_names_are_read(tmp_path):
    _cifar_folder(tmp_path, pickle.dumps({b"label_names": [b"airplane"] + [b"x"] * 9}, protocol=2))
    assert images.load_cifar10(tmp_path).class_names[:2] == ("airplane", "x")


# MNIST


def _write_mnist(root, x=None, y_train=(0, 1, 2, 3)):
    path = root / "mnist" / "mnist.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8) if x is None else x
    np.savez(path, x_train=x, y_train=np.array(y_train, np.uint8), x_test=x, y_test=np.array([3, 2, 1, 0], np.uint8))
    return path


def test_mnist_label_outside_the_ten_digits_is_refused(tmp_path):
    path = _write_mnist(tmp_path, y_train=(0, 1, 2, 255))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, y_train: labels must be integers from 0 to 9. Received: \[255\]."):
        images.load_mnist(tmp_path)


def test_mnist_images_already_scaled_are_refused_not_scaled_twice(tmp_path):
    path = _write_mnist(tmp_path, x=np.random.default_rng(0).random((4, 28, 28)).astype(np.float32))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, x_train: pixel values must be integers from 0 to 255 "
                                         r"\(uint8\); images already scaled to \[0, 1\] are not accepted. Received: dtype float32."):
        images.load_mnist(tmp_path)


def test_mnist_with_wrong_shapes_is_refused(tmp_path):
    path = _write_mnist(tmp_path, x=np.zeros((4, 784), np.uint8))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: x_train has shape \(4, 784\) and y_train \(4,\). "
                                         r"Expected \(N, 28, 28\) images and N labels."):
        images.load_mnist(tmp_path)


@pytest.mark.parametrize("keep", [slice(0, 200), slice(0, -100)], ids=["head", "without its end"])
def test_truncated_mnist_is_refused_naming_the_file(tmp_path, keep):
    path = _write_mnist(tmp_path)
    path.write_bytes(path.read_bytes()[keep])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is truncated or not a keras.datasets MNIST file "
                                         r"\(BadZipFile: .*\); expected sha256 731c5ac6"):
        images.load_mnist(tmp_path)


# DBpedia

GOOD = b"1, Acme is a company.,,,\n14, A book.,,,\n"


def _write_dbpedia(root, train=GOOD, test=GOOD):
    folder = root / "dbpedia-medium"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_medium.csv").write_bytes(train)
    (folder / "test_medium.csv").write_bytes(test)
    return folder


@pytest.mark.parametrize(
    "line, message",
    [
        (b"0, Zero.,,", r"line 3: the label 0 is outside the course's 14 DBpedia classes. Expected an integer from 1 to 14."),
        (b"16, Sixteen.,,", r"line 3: the label 16 is outside the course's 14 DBpedia classes."),
        (b"-1, Minus one.,,", r"line 3: the label -1 is outside the course's 14 DBpedia classes."),
        (b"99999999999999999999, Big.,,", r"line 3: the label 99999999999999999999 is outside the course's 14 DBpedia classes."),
        ("\u00b2, Squared.,,".encode(), r"line 3: the label '\u00b2' is not an integer. Expected an integer from 1 to 14."),
        (b"2.5, Half.,,", r"line 3: the label '2.5' is not an integer. Expected an integer from 1 to 14."),
    ],
    ids=["0", "16", "-1", "20 digits", "superscript two", "2.5"],
)
def test_dbpedia_label_outside_the_classes_is_refused_naming_file_and_line(tmp_path, line, message):
    folder = _write_dbpedia(tmp_path, train=GOOD + line + b"\n")
    with pytest.raises(ValueError, match=re.escape(str(folder / "train_medium.csv")) + ", " + message):
        text.load_dbpedia(tmp_path)


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("content", [b"", b"\n \n"], ids=["empty", "blank lines"])
def test_empty_dbpedia_split_is_refused(tmp_path, split, content):
    folder = _write_dbpedia(tmp_path, **{split: content})
    with pytest.raises(ValueError, match=rf"{re.escape(str(folder / f'{split}_medium.csv'))}: no 'label, text' lines; "
                                         "an empty split cannot be trained or evaluated."):
        text.load_dbpedia(tmp_path)


def test_dbpedia_not_utf8_is_refused_naming_file_line_and_byte(tmp_path):
    folder = _write_dbpedia(tmp_path, test=GOOD + b"2, Caf\xe9 school.,,\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(folder / 'test_medium.csv'))}, line 3 \(byte 46\): the file is not "
                                         r"UTF-8 text \(invalid continuation byte: b'\\xe9'\). Expected a UTF-8 encoded file."):
        text.load_dbpedia(tmp_path)


def test_dbpedia_windows_line_ends_read_as_before(tmp_path):
    _write_dbpedia(tmp_path, train=GOOD.replace(b"\n", b"\r\n"))
    data = text.load_dbpedia(tmp_path)
    assert data.class_labels == (1, 14) and text.decode(data.x_train[1]) == "a book."


# Tiny Shakespeare


def test_shakespeare_not_utf8_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "tinyshakespeare" / "input.txt"
    path.parent.mkdir()
    path.write_bytes(b"First Citizen:\nBefore we proceed \xff any further\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line 2 \(byte 33\): the file is not UTF-8 text"):
        text.load_shakespeare_words(tmp_path)


def test_shakespeare_too_short_names_the_file_and_part(tmp_path):
    path = tmp_path / "tinyshakespeare" / "input.txt"
    path.parent.mkdir()
    path.write_text("to be or not to be " * 5)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, training part: Too few words \(24\) for one window of 32"):
        text.load_shakespeare_words(tmp_path)


# Shared label check


def test_check_labels_returns_int64_and_names_the_source():
    assert splits.check_labels(np.array([0, 2], np.uint8), 3, "f").dtype == np.int64
    with pytest.raises(ValueError, match=r"^f, y: labels must be integers from 0 to 2. Received: \[3, 4, 5, 6, 7\] and 1 more.$"):
        splits.check_labels(np.arange(9), 3, "f, y")
