"""Downloads of missing data files, against a local HTTP server (no internet).

DBpedia is fetched from the author's pinned commit and sha256-checked; the
course's CIFAR-10 `test_batch_trim` is fetched and git-blob-checked, and when
it cannot be had the loader quietly rebuilds it from `test_batch`.
"""

import functools
import hashlib
import http.server
import re
import threading

import numpy as np
import pytest

from conftest import write_batch
from lib.core import data
from lib.core.data import fetch, images, text

REFUSED = "http://127.0.0.1:9"  # nothing listens on port 9 of loopback: refused at once


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder, list of requested paths) of an HTTP server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, handler.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fresh_trim_memory(monkeypatch):
    monkeypatch.setattr(images, "_TRIM_FAILED", set())


def _sha256(content):
    return hashlib.sha256(content).hexdigest()


def _leftovers(folder):
    return sorted(path.name for path in folder.rglob("*")) if folder.exists() else []


def test_git_blob_id_is_what_git_hash_object_gives(tmp_path):
    path = tmp_path / "hello"
    path.write_bytes(b"hello\n")
    assert fetch.git_blob_id(path) == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object`


# DBpedia

DBPEDIA_CSV = {
    "train_medium.csv": b"1, Acme Corp is a company.,,,,\n3, A painter of rivers.,,,,\n",
    "test_medium.csv": b"3, A sculptor.,,,,\n1, Globex is a firm.,,,,\n",
}


@pytest.fixture
def served_dbpedia(server, monkeypatch):
    base, served, requests = server
    for name, content in DBPEDIA_CSV.items():
        (served / name).write_bytes(content)
    monkeypatch.setattr(text, "DBPEDIA_URL", base + "/{name}")
    monkeypatch.setattr(text, "DBPEDIA_SHA256", {name: _sha256(content) for name, content in DBPEDIA_CSV.items()})
    return requests


def test_missing_dbpedia_is_downloaded_and_checked(tmp_path, served_dbpedia):
    root = tmp_path / "data"
    data_set = text.load_dbpedia(root)
    assert data_set.y_train.tolist() == [0, 1] and data_set.class_names == ("Company", "Artist")
    for name, content in DBPEDIA_CSV.items():
        assert (root / "dbpedia-medium" / name).read_bytes() == content
        assert data_set.files[name]["copy"] == "course file"
    assert _leftovers(root / "dbpedia-medium") == ["test_medium.csv", "train_medium.csv"]  # no partial files
    text.load_dbpedia(root)
    assert sorted(served_dbpedia) == ["/test_medium.csv", "/train_medium.csv"]  # downloaded once


def test_dbpedia_with_wrong_checksum_is_refused_and_deleted(tmp_path, served_dbpedia, monkeypatch):
    expected = "0" * 64
    monkeypatch.setitem(text.DBPEDIA_SHA256, "train_medium.csv", expected)
    root = tmp_path / "data"
    path = root / "dbpedia-medium" / "train_medium.csv"
    url = text.DBPEDIA_URL.format(name="train_medium.csv")
    with pytest.raises(FileNotFoundError) as raised:
        text.load_dbpedia(root)
    assert str(raised.value) == (
        f"DBpedia file train_medium.csv not found at {path}, and downloading {url} failed (the downloaded "
        f"file has sha256 {_sha256(DBPEDIA_CSV['train_medium.csv'])}; it was deleted). Save that file "
        f"(sha256 {expected}) as {path}, or point DATA_DIR (make DATA_DIR=...) at a directory holding dbpedia-medium/."
    )
    assert _leftovers(root / "dbpedia-medium") == []


def test_dbpedia_network_failure_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "DBPEDIA_URL", REFUSED + "/2b/{name}")
    path = tmp_path / "dbpedia-medium" / "train_medium.csv"
    with pytest.raises(FileNotFoundError, match=(
        rf"^DBpedia file train_medium.csv not found at {re.escape(str(path))}, and downloading "
        rf"{REFUSED}/2b/train_medium.csv failed \(URLError: .*refused.*\)\. Save that file \(sha256 "
        rf"{text.DBPEDIA_SHA256['train_medium.csv']}\) as {re.escape(str(path))}, or point DATA_DIR "
        r"\(make DATA_DIR=\.\.\.\) at a directory holding dbpedia-medium/\.$")):
        text.load_dbpedia(tmp_path)
    assert _leftovers(tmp_path / "dbpedia-medium") == []


def test_dbpedia_url_is_the_pinned_commit():
    assert text.DBPEDIA_URL.format(name="test_medium.csv") == (
        "https://raw.githubusercontent.com/tanchuanxin/cz4042_assignment_2/"
        "9e47938991e420f958ffa32e0fad665f5cd358bd/2b/test_medium.csv")


# The course's test_batch_trim

@pytest.fixture
def served_trim(server, monkeypatch):
    """A 20-image trim file (2 per class, labels counting down) served as the course's, blob id pinned."""
    base, served, requests = server
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (20, 3072), dtype=np.uint8)
    path = write_batch(served / "test_batch_trim", pixels, 9 - np.arange(20) % 10)
    monkeypatch.setattr(images, "TRIM_URL", base + "/test_batch_trim")
    monkeypatch.setattr(images, "TRIM_GIT_BLOB", fetch.git_blob_id(path))
    return pixels, requests


def test_course_trim_is_downloaded_checked_and_reported(tiny_cifar, served_trim, capsys):
    pixels, requests = served_trim
    loaded = images.load_cifar10(data_dir=str(tiny_cifar))  # test_per_class=200: the course test set
    expected = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255.0
    np.testing.assert_array_equal(loaded.x_test, expected)
    assert loaded.y_test.tolist() == (9 - np.arange(20) % 10).tolist()
    trim = tiny_cifar / "cifar-10-batches-py" / "test_batch_trim"
    assert loaded.files["test_batch_trim"] == {"sha256": fetch.file_sha256(trim), "copy": images.TRIM_COPY}
    assert "test_batch" not in loaded.files
    assert images.TRIM_COPY == "course test_batch_trim (pinned commit 9e47938)"
    assert capsys.readouterr().out == ""
    images.load_cifar10(data_dir=str(tiny_cifar))
    assert requests == ["/test_batch_trim"]  # kept, not downloaded again


def test_wrong_trim_is_refused_deleted_and_rebuilt_from_test_batch(tiny_cifar, served_trim, monkeypatch, capsys):
    monkeypatch.setattr(images, "TRIM_GIT_BLOB", "1" * 40)
    loaded = images.load_cifar10(data_dir=str(tiny_cifar))
    assert loaded.x_test.shape == (40, 32, 32, 3)  # all of the tiny test_batch: fewer than 200 per class
    assert loaded.files["test_batch_trim"]["copy"] == "rebuilt from test_batch (that sha256): first 200 images per class"
    assert loaded.files["test_batch_trim"]["sha256"] == loaded.files["test_batch"]["sha256"]
    assert not (tiny_cifar / "cifar-10-batches-py" / "test_batch_trim").exists()
    assert sorted(path.name for path in (tiny_cifar / "cifar-10-batches-py").iterdir()) == ["batches.meta", "data_batch_1", "test_batch"]
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "the downloaded file has git blob id" in out


def test_unreachable_trim_falls_back_quietly_and_is_not_retried(tiny_cifar, monkeypatch, capsys):
    monkeypatch.setattr(images, "TRIM_URL", REFUSED + "/2a/test_batch_trim")
    attempts = []
    real_fetch = fetch.fetch
    monkeypatch.setattr(fetch, "fetch", lambda *args, **kwargs: attempts.append(args[0]) or real_fetch(*args, **kwargs))
    first = images.load_cifar10(data_dir=str(tiny_cifar))
    second = images.load_cifar10(data_dir=str(tiny_cifar))
    assert attempts == [REFUSED + "/2a/test_batch_trim"]  # the failure is remembered for the process
    assert re.fullmatch(
        rf"Course test_batch_trim not downloaded from {REFUSED}/2a/test_batch_trim \(URLError: .*refused.*\); "
        r"rebuilding it from test_batch \(first 200 images per class\)\.\n", capsys.readouterr().out)
    np.testing.assert_array_equal(first.x_test, second.x_test)
    assert first.files["test_batch_trim"]["copy"].startswith("rebuilt from test_batch")


def test_present_trim_that_is_not_the_course_file_is_not_used(tiny_cifar, served_trim, capsys):
    path = write_batch(tiny_cifar / "cifar-10-batches-py" / "test_batch_trim", np.zeros((10, 3072), np.uint8), np.arange(10))
    before = path.read_bytes()
    loaded = images.load_cifar10(data_dir=str(tiny_cifar))
    assert loaded.x_test.shape == (40, 32, 32, 3) and "test_batch" in loaded.files
    assert path.read_bytes() == before and served_trim[1] == []  # left alone, nothing downloaded
    assert "is not the course's test_batch_trim" in capsys.readouterr().out


def test_run_keys_see_which_test_set_is_used(tiny_cifar, server, monkeypatch):
    """The files that enter run keys: test_batch when rebuilt, test_batch_trim when the course file is used."""
    monkeypatch.setattr(images, "TRIM_URL", REFUSED + "/test_batch_trim")
    offline = data.SOURCES["cifar10"].files(str(tiny_cifar))
    assert sorted(offline) == ["batches.meta", "data_batch_1", "test_batch"]  # as before this change
    assert sorted(data.SOURCES["cifar10"].files(str(tiny_cifar), test_per_class=3)) == sorted(offline)

    base, served, requests = server
    trim = write_batch(served / "test_batch_trim", np.zeros((10, 3072), np.uint8), np.arange(10))
    monkeypatch.setattr(images, "TRIM_URL", base + "/test_batch_trim")
    monkeypatch.setattr(images, "TRIM_GIT_BLOB", fetch.git_blob_id(trim))
    monkeypatch.setattr(images, "_TRIM_FAILED", set())
    # Study C's and the search's loaders default to other test sets: no trim, no download.
    assert sorted(data.SOURCES["cifar10_gray"].files(str(tiny_cifar))) == sorted(offline)
    assert sorted(data.SOURCES["cifar10_search"].files(str(tiny_cifar))) == sorted(offline)
    assert requests == []
    online = data.SOURCES["cifar10"].files(str(tiny_cifar))
    assert sorted(online) == ["batches.meta", "data_batch_1", "test_batch_trim"]
    assert sorted(data.SOURCES["cifar10_gray"].files(str(tiny_cifar), test_per_class=200)) == sorted(online)


def test_missing_cifar_archive_with_wrong_checksum_leaves_nothing(tmp_path, server, monkeypatch):
    base, served, _ = server
    (served / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    monkeypatch.setattr(images, "CIFAR10_URL", base + "/cifar-10-python.tar.gz")
    with pytest.raises(FileNotFoundError, match=rf"^CIFAR-10 file data_batch_1 not found at .*data_batch_1, and downloading "
                                                rf"{base}/cifar-10-python.tar.gz failed \(the downloaded file has sha256 "
                                                rf"{_sha256(b'not the archive')}; it was deleted\)\. Save that file \(sha256 "
                                                rf"{images.CIFAR10_SHA256}\) as .*cifar-10-python.tar.gz, or point DATA_DIR"):
        images.load_cifar10(data_dir=str(tmp_path / "data"))
    assert _leftovers(tmp_path / "data") == []
