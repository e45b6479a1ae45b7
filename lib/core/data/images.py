"""Image data sets: CIFAR-10 (as the course uses it, grayscale 28x28, split for a search) and MNIST.

A loader looks for its files under the data directory (`lib.paths.data_dir`);
when they are missing it downloads the official archive and checks its sha256
(`fetch.fetch`); when that fails too it raises one `FileNotFoundError` that
names the missing file, where it was expected and how to provide it. The
course's CIFAR-10 test set, `test_batch_trim`, is read from the author's pinned
commit when it can be had (git blob checked), else rebuilt from `test_batch`. Before any work a loader
checks what it read: integer pixel values 0..255, labels 0..9, matching
shapes, no empty split; each refusal is a `ValueError` that names the file.
"""

import dataclasses
import functools
import inspect
import io
import math
import operator
import pickle
import zipfile
import zlib
import tarfile
from pathlib import Path

import numpy as np

from lib import paths
from lib.files import sha256
from lib.core.data import fetch
from lib.core.data.fetch import git_blob_id
from lib.core.data.splits import HeldOutSplits, check_labels, first_per_class, last_per_class

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_DIR = "cifar-10-batches-py"
# The file keras.datasets.mnist downloads (60,000 training digits).
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_FILE = "mnist/mnist.npz"
# The course's own test set: 2,000 official test images, 200 per class, public at the
# Study A/B author's pinned commit. Its git blob id is its only published checksum.
TRIM_URL = ("https://raw.githubusercontent.com/tanchuanxin/cz4042_assignment_2/"
            "9e47938991e420f958ffa32e0fad665f5cd358bd/2a/test_batch_trim")
TRIM_GIT_BLOB = "d140768f8ef7c67050662d2902911b1df0d6b337"
TRIM_PER_CLASS = 200  # `test_per_class` that asks for the course's test set
TRIM_TIMEOUT_S = 5  # short: offline, the rebuilt test set is used at once
TRIM_COPY = "course test_batch_trim (pinned commit 9e47938)"
_TRIM_FAILED = set()  # URLs whose download failed in this process; not tried again

# sha256 of batch files whose origin we know, so reports can say which copy ran.
KNOWN_FILES = {
    "2463c4ae1b94eaadf5494dbfa575668582a7139c9532ace6157abc814afe961a": "offline JPEG re-encoded copy",
    "b6bce4a5194e82c39cc1927a5dad18b70b767003d395edcdabbe2ca520e4b34d": "offline JPEG re-encoded copy",
    MNIST_SHA256: "official keras.datasets download (60,000 training digits)",
    "1ca2ab1949524c2c3a332e7dcb82498e8671fe38b9004fd0e3f3af85567269d4": "offline copy (9,997 training digits)",
}

# The only globals a CIFAR-10 batch needs: numpy array reconstruction, plus
# `_codecs.encode`, which protocol-2 pickles written by Python 3 use for bytes.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}


@dataclasses.dataclass(frozen=True)
class ImageData:
    """Images scaled to [0, 1] (N, H, W, C float32) with integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    files: dict  # file name -> {"sha256": ..., "copy": ...}, for provenance


class _RefusedPickle(ValueError):
    """A pickle asked for something a CIFAR-10 file never needs; nothing from it was run."""


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and strings, and no array larger than the file.

    A pickle can call the allowed array constructors with any shape, so a
    93-byte file could claim gigabytes of uninitialised memory; each array's
    declared size is checked against the file's size before numpy allocates.
    """

    def __init__(self, file, path, size):
        super().__init__(file, encoding="bytes")
        self._path, self._size = path, size
        check = self._check_array

        class ndarray(np.ndarray):  # what the pickle's `numpy.ndarray` becomes
            def __new__(cls, shape, dtype=float, *args, **kwargs):
                check(shape, dtype)
                return super().__new__(cls, shape, dtype, *args, **kwargs)

            def __setstate__(self, state):
                # (version, shape, dtype, is_fortran, data), or without the version.
                if isinstance(state, tuple) and len(state) in (4, 5):
                    check(state[-4], state[-3])
                super().__setstate__(state)

        self._ndarray = ndarray

    def _check_array(self, shape, dtype):
        try:
            dtype = np.dtype(dtype)
            dimensions = [operator.index(size) for size in (shape if isinstance(shape, (tuple, list)) else (shape,))]
            nbytes = math.prod(dimensions) * dtype.itemsize
        except (TypeError, ValueError) as error:
            raise _RefusedPickle(f"Refusing to unpickle {self._path}: it declares an array of shape {shape!r} "
                                 f"and dtype {dtype!r} ({error}).") from None
        if nbytes > self._size:
            raise _RefusedPickle(
                f"Refusing to unpickle {self._path}: it declares an array of shape {shape!r} and dtype {dtype} "
                f"({nbytes:,} bytes), larger than the file ({self._size:,} bytes). Expected arrays whose "
                "data the file holds; nothing was allocated."
            )

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise _RefusedPickle(
                f"Refusing to unpickle {self._path}: it names the global "
                f"'{module}.{name}', but a CIFAR-10 batch may only contain numpy "
                "arrays, lists and strings. The file is not a CIFAR-10 batch or "
                "has been tampered with; nothing from it was run."
            )
        if name == "ndarray":
            return self._ndarray
        if name == "encode":
            return self._encode
        found = super().find_class(module, name)
        if name == "_reconstruct":
            def reconstruct(subtype, shape, dtype):
                self._check_array(shape, dtype)
                return found(subtype, shape, dtype)

            return reconstruct
        return found

    def _encode(self, text, encoding):
        # Python 3 writes bytes as `_codecs.encode(str, "latin1")` in protocol 2; other
        # codecs ("hex", nested) could grow a few bytes of file into any size.
        if not isinstance(text, str) or encoding != "latin1":
            raise _RefusedPickle(f"Refusing to unpickle {self._path}: it calls _codecs.encode with "
                                 f"encoding {encoding!r}. Expected 'latin1' only, as pickled bytes use.")
        return text.encode("latin1")


def _unpickle(path, kind):
    """The object pickled in `path`; a damaged or refused file is a ValueError that names it."""
    raw = path.read_bytes()
    try:
        return _ArrayOnlyUnpickler(io.BytesIO(raw), path, len(raw)).load()
    except _RefusedPickle as error:
        raise ValueError(str(error)) from None
    except MemoryError:
        raise ValueError(f"{path}: out of memory while unpickling it ({len(raw):,} bytes); "
                         f"it is damaged or not a CIFAR-10 {kind}.") from None
    except Exception as error:  # whatever a damaged pickle raises (EOFError, UnpicklingError, TypeError, ...)
        raise ValueError(f"{path} is truncated or not a CIFAR-10 {kind} ({type(error).__name__}: {error}).") from None


def _pixels(values, source):
    """`values` as uint8, after checking they are integers from 0 to 255 (any integer dtype)."""
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{source}: pixel values must be integers from 0 to 255 (uint8); images already scaled "
                         f"to [0, 1] are not accepted. Received: dtype {values.dtype}.")
    if values.size and (values.min() < 0 or values.max() > 255):
        raise ValueError(f"{source}: pixel values must be integers from 0 to 255. "
                         f"Received: values from {values.min()} to {values.max()}.")
    return values.astype(np.uint8, copy=False)


def read_cifar_batch(path):
    """Read one CIFAR-10 python batch safely.

    Accepts the official files (pickle protocol 2, bytes keys such as
    `b"data"`) and str-keyed files (protocol 4). Only numpy array
    reconstruction is allowed while unpickling.

    Args:
        path: path of a batch file such as `data_batch_1` or `test_batch`.

    Returns:
        `(images, labels)`: float32 array (N, 32, 32, 3) scaled to [0, 1] and
        int64 array (N,).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is truncated, refused or not a CIFAR-10 batch:
            pixel values that are not integers 0..255 (images already scaled
            to [0, 1] included), labels outside 0..9, shapes that do not
            match, no images, or an array larger than the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch not found: {path}")
    batch = _unpickle(path, "python batch")
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 python batch: expected a dict, got {type(batch).__name__}.")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    missing = {"data", "labels"} - batch.keys()
    if missing:
        raise ValueError(f"{path} is not a CIFAR-10 python batch: missing keys {sorted(missing)}.")
    try:
        data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    except (TypeError, ValueError) as error:  # ragged lists
        raise ValueError(f"{path} is not a CIFAR-10 python batch: {error}.") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != data.shape[:1]:
        raise ValueError(
            f"{path} is not a CIFAR-10 python batch: data has shape {data.shape} and "
            f"{labels.size} labels; expected (N, 3072) and N labels."
        )
    data = _pixels(data, f"{path}, data")
    labels = check_labels(labels, 10, f"{path}, labels")
    # Rows are channel-first (1024 red, 1024 green, 1024 blue values).
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.float32) / 255.0, labels


def _label_names(path):
    """The 10 class names in CIFAR-10's `batches.meta`."""
    meta = _unpickle(path, "batches.meta file")
    names = meta.get("label_names", meta.get(b"label_names")) if isinstance(meta, dict) else None
    if not (isinstance(names, (list, tuple)) and len(names) == 10 and all(isinstance(name, (str, bytes)) for name in names)):
        raise ValueError(f"{path}: `label_names` must be a list of 10 class names. Received: {names!r:.200}.")
    try:
        return tuple(name.decode() if isinstance(name, bytes) else name for name in names)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: a class name in `label_names` is not UTF-8 text ({error}).") from None


def _download_cifar10(directory, missing):
    archive = fetch.fetch(CIFAR10_URL, directory / "cifar-10-python.tar.gz", f"CIFAR-10 file {missing.name}",
                          sha256=CIFAR10_SHA256, needed=missing, holding=f"{CIFAR10_DIR}/")
    with tarfile.open(archive) as tar:
        # Only what is missing: files already there (a course copy, say) stay as they are.
        members = [member for member in tar.getmembers() if not (Path(directory) / member.name).exists()]
        tar.extractall(directory, members=members, filter="data")


def cifar10_files(data_dir=None, train_batches=1, test_per_class=TRIM_PER_CLASS, **_subset):
    """Paths of the CIFAR-10 batch files, downloading the archive if any is missing.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        train_batches: how many of `data_batch_1` ... `data_batch_5` are needed.
        test_per_class: the loader's test images per class; 200 (the default,
            the course's test set) puts the course's `test_batch_trim` in
            place of `test_batch` when it is there or downloads, git blob
            checked (see `course_test_trim`).
        **_subset: the loader's other arguments, which need no files.

    Returns:
        dict of file name -> Path.

    Raises:
        FileNotFoundError: a file is missing and the download failed.
    """
    if train_batches not in range(1, 6):
        raise ValueError(f"Invalid value for `train_batches`. Received: train_batches={train_batches!r}. Expected an integer from 1 to 5.")
    directory = paths.data_dir(data_dir)
    names = [f"data_batch_{i}" for i in range(1, train_batches + 1)] + ["test_batch", "batches.meta"]
    files = {name: directory / CIFAR10_DIR / name for name in names}
    missing = [path for path in files.values() if not path.is_file()]
    if missing:
        print(f"CIFAR-10 files missing under {directory / CIFAR10_DIR}; downloading {CIFAR10_URL}")
        _download_cifar10(directory, missing[0])
        still_missing = [path for path in files.values() if not path.is_file()]
        if still_missing:
            raise FileNotFoundError(f"CIFAR-10 file not found at {still_missing[0]} after extracting {CIFAR10_URL}.")
    if test_per_class == TRIM_PER_CLASS:
        trim = course_test_trim(directory / CIFAR10_DIR)
        if trim is not None:
            del files["test_batch"]
            files["test_batch_trim"] = trim
    return files


def course_test_trim(folder):
    """The course's `test_batch_trim` in `folder`, downloaded if missing; `None` when it cannot be had.

    A file there is used only if its git blob id is `TRIM_GIT_BLOB`; a
    missing one is downloaded from `TRIM_URL` (short timeout) and kept only
    if it matches. A failure prints one line and is not retried in this
    process; the caller then rebuilds the test set from `test_batch`.

    Args:
        folder: the `cifar-10-batches-py` folder.

    Returns:
        Path of the verified file, or `None`.
    """
    path = Path(folder) / "test_batch_trim"
    if path.is_file():
        found = git_blob_id(path)
        if found == TRIM_GIT_BLOB:
            return path
        print(f"{path} is not the course's test_batch_trim (git blob {found}, expected {TRIM_GIT_BLOB}); "
              f"the test set is rebuilt from test_batch instead.")
        return None
    if TRIM_URL in _TRIM_FAILED:
        return None
    try:
        return fetch.fetch(TRIM_URL, path, "CIFAR-10 file test_batch_trim", git_blob=TRIM_GIT_BLOB,
                           holding=f"{CIFAR10_DIR}/test_batch_trim", timeout=TRIM_TIMEOUT_S)
    except fetch.DownloadFailed as error:
        _TRIM_FAILED.add(TRIM_URL)
        print(f"Course test_batch_trim not downloaded from {TRIM_URL} ({error.reason}); "
              f"rebuilding it from test_batch (first {TRIM_PER_CLASS} images per class).")
        return None


def cifar10_files_for(loader):
    """`cifar10_files` with the default `test_per_class` of `loader` (a CIFAR-10 loader of this module).

    Whether the course's `test_batch_trim` is among the files depends on
    `test_per_class`, which each loader defaults differently.
    """
    default = inspect.signature(loader).parameters["test_per_class"].default
    return functools.partial(cifar10_files, test_per_class=default)


def load_cifar10(data_dir=None, train_per_class=None, test_per_class=200, train_batches=1):
    """CIFAR-10 as the course uses it: `data_batch_1` to train, a trimmed test set.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        train_per_class: keep the first N training images of each class;
            `None` (the default) keeps them all.
        test_per_class: keep the first N test images of each class in file
            order; 200 (the default) is the course's `test_batch_trim`: the
            course's own file when it is there or downloads (see
            `course_test_trim`), else rebuilt from `test_batch`. `files` says which.
        train_batches: train on `data_batch_1` ... `data_batch_<n>`; 1 (the
            default) is the course's 10,000 images, 5 all 50,000.

    Returns:
        `ImageData`.
    """
    files = cifar10_files(data_dir, train_batches, test_per_class)
    batches = [read_cifar_batch(files[f"data_batch_{i}"]) for i in range(1, train_batches + 1)]
    x_train = np.concatenate([images for images, _ in batches])
    y_train = np.concatenate([labels for _, labels in batches])
    x_test, y_test = read_cifar_batch(files.get("test_batch_trim", files.get("test_batch")))
    train = first_per_class(y_train, train_per_class)
    test = first_per_class(y_test, test_per_class)
    provenance = {}
    for name, path in files.items():
        if name != "batches.meta":
            digest = sha256(path)
            provenance[name] = {"sha256": digest, "copy": TRIM_COPY if name == "test_batch_trim" else
                                KNOWN_FILES.get(digest, "official download or user-provided")}
    if test_per_class == TRIM_PER_CLASS and "test_batch" in files:
        provenance["test_batch_trim"] = {"sha256": provenance["test_batch"]["sha256"],
                                         "copy": f"rebuilt from test_batch (that sha256): first {TRIM_PER_CLASS} images per class"}
    return ImageData(
        x_train=x_train[train],
        y_train=y_train[train],
        x_test=x_test[test],
        y_test=y_test[test],
        class_names=_label_names(files["batches.meta"]),
        files=provenance,
    )


def to_grayscale_28(images):
    """RGB images (N, 32, 32, 3) in [0, 1] as (N, 28, 28, 1) grayscale, as Study C uses CIFAR-10.

    Luma with the ITU-R BT.601 weights (what PIL's "L" mode uses), then an
    antialiased bilinear resize of the whole image to 28x28 (a crop would
    drop the border).

    Args:
        images: float array (N, H, W, 3).

    Returns:
        float32 array (N, 28, 28, 1) in [0, 1].
    """
    import keras

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"Invalid value for `images`: shape {images.shape}. Expected (N, H, W, 3) RGB images.")
    gray = images @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    resized = keras.ops.image.resize(gray[..., None], (28, 28), interpolation="bilinear", antialias=True)
    return np.clip(keras.ops.convert_to_numpy(resized), 0.0, 1.0).astype(np.float32)


def load_cifar10_gray(data_dir=None, train_per_class=None, test_per_class=100, train_batches=1):
    """Study C's CIFAR-10: 28x28 grayscale, 1,000 training and 100 test images per class.

    Reads the same files as `load_cifar10` (see `to_grayscale_28` for the
    conversion); the test images are the first `test_per_class` of each
    class in `test_batch`.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        train_per_class: keep the first N training images of each class;
            `None` (the default) keeps all of `data_batch_1` (1,000 per class).
        test_per_class: first N test images of each class. Defaults to 100.
        train_batches: see `load_cifar10`.

    Returns:
        `ImageData` with images of shape (28, 28, 1).
    """
    data = load_cifar10(data_dir, train_per_class, test_per_class, train_batches)
    return dataclasses.replace(data, x_train=to_grayscale_28(data.x_train), x_test=to_grayscale_28(data.x_test))


def mnist_files(data_dir=None, **_subset):
    """{"mnist.npz": Path}, downloading the keras.datasets file when it is missing.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        **_subset: the loader's other arguments, which need no files.

    Raises:
        FileNotFoundError: the file is missing and the download failed.
    """
    path = paths.data_dir(data_dir) / MNIST_FILE
    return {"mnist.npz": fetch.if_missing(MNIST_URL, path, "MNIST file mnist.npz", sha256=MNIST_SHA256, holding=MNIST_FILE)}


def load_mnist(data_dir=None, train_per_class=None, test_per_class=None):
    """MNIST digits as (N, 28, 28, 1) images in [0, 1]; an RNN reads the 28 rows as time steps.

    The same code reads the 60,000-digit keras.datasets file and the offline
    9,997-digit copy (same npz layout); the history's provenance says which.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        train_per_class: keep the first N training digits of each class;
            `None` (the default) keeps all.
        test_per_class: the same for the 10,000 test digits.

    Returns:
        `ImageData` with class names "0" ... "9".

    Raises:
        ValueError: the file is truncated or damaged, or holds images that
            are not (N, 28, 28) integers 0..255 (already scaled ones are
            refused, not divided by 255 again) or labels outside 0..9.
    """
    path = mnist_files(data_dir)["mnist.npz"]
    try:
        with np.load(path, allow_pickle=False) as arrays:
            x_train, y_train, x_test, y_test = (arrays[name] for name in ("x_train", "y_train", "x_test", "y_test"))
    except (KeyError, ValueError, OSError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error) as error:  # damaged or truncated
        raise ValueError(f"{path} is truncated or not a keras.datasets MNIST file ({type(error).__name__}: {error}); "
                         f"expected sha256 {MNIST_SHA256}.") from None
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != x.shape[:1]:
            raise ValueError(f"{path}: x_{split} has shape {x.shape} and y_{split} {y.shape}. "
                             "Expected (N, 28, 28) images and N labels.")
    x_train, x_test = _pixels(x_train, f"{path}, x_train"), _pixels(x_test, f"{path}, x_test")
    y_train, y_test = check_labels(y_train, 10, f"{path}, y_train"), check_labels(y_test, 10, f"{path}, y_test")
    train, test = first_per_class(y_train, train_per_class), first_per_class(y_test, test_per_class)
    digest = sha256(path)

    def images(x):
        return (x[..., None] / np.float32(255.0)).astype(np.float32)

    return ImageData(
        x_train=images(x_train[train]),
        y_train=y_train[train],
        x_test=images(x_test[test]),
        y_test=y_test[test],
        class_names=tuple(str(digit) for digit in range(10)),
        files={"mnist.npz": {"sha256": digest, "copy": KNOWN_FILES.get(digest, "user-provided")}},
    )


@dataclasses.dataclass(frozen=True)
class SearchImageData(HeldOutSplits):
    """CIFAR-10 for a hyperparameter search: training, validation and test images."""

    class_names: tuple


def load_cifar10_search(data_dir=None, train_per_class=None, validation_per_class=100, test_per_class=None, train_batches=1):
    """CIFAR-10 split for a search: the last images of each class validate.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        train_per_class: train on the first N images of each class of the
            training batches; `None` (the default) on all but the validation ones.
        validation_per_class: the last N images of each class of the training
            batches form the validation split (the `x_test` slot). Defaults to 100.
        test_per_class: the first N test images of each class (the
            `x_heldout` slot); `None` (the default) keeps all of `test_batch`.
        train_batches: `data_batch_1` ... `data_batch_<n>` (5: full CIFAR-10).

    Returns:
        `SearchImageData`.
    """
    if not isinstance(validation_per_class, int) or validation_per_class < 1:
        raise ValueError(f"Invalid value for `validation_per_class`. Received: validation_per_class={validation_per_class!r}. "
                         "Expected a positive integer.")
    full = load_cifar10(data_dir, train_per_class=None, test_per_class=test_per_class, train_batches=train_batches)
    validation = last_per_class(full.y_train, validation_per_class)
    rest = np.setdiff1d(np.arange(len(full.y_train)), validation)
    train = rest[first_per_class(full.y_train[rest], train_per_class)]
    return SearchImageData(
        x_train=full.x_train[train], y_train=full.y_train[train],
        x_test=full.x_train[validation], y_test=full.y_train[validation],
        x_heldout=full.x_test, y_heldout=full.y_test,
        class_names=full.class_names, files=full.files,
    )
