"""Data sets as runs see them: each source's loader, files and code, and a per-process cache.

`SOURCES[name]` is what a `RunConfig.data` names; `load(name, data_kwargs,
data_dir)` returns its arrays, loaded once per process. The loaders
themselves live in `images` (CIFAR-10, MNIST) and `text` (DBpedia, tiny
Shakespeare).
"""

import dataclasses
import functools
import json

from lib.core.data import images, splits, text


@dataclasses.dataclass(frozen=True)
class Source:
    """A data set as runs see it.

    Attributes:
        load: `load(data_dir=..., **data_kwargs)` returns the arrays.
        files: `files(data_dir, **data_kwargs)` returns {name: Path}; their
            sha256 enter run keys.
        code: the functions whose source decides what `load` returns.
    """

    load: object
    files: object
    code: tuple


_CIFAR = (images.load_cifar10, images.cifar10_files, images.course_test_trim, images.read_cifar_batch, images._unpickle, images._ArrayOnlyUnpickler,
          images._pixels, images._label_names, splits.check_labels, splits.first_per_class)
SOURCES = {
    "cifar10": Source(images.load_cifar10, images.cifar10_files_for(images.load_cifar10), _CIFAR),
    "dbpedia": Source(text.load_dbpedia, text.dbpedia_files, (
        text.load_dbpedia, text.read_csv, text._read_utf8, text.clean_text, text.encode_chars, text.words,
        text.build_vocabulary, text.encode, text.encode_words, splits.first_per_class)),
    "cifar10_gray": Source(images.load_cifar10_gray, images.cifar10_files_for(images.load_cifar10_gray),
                           (images.load_cifar10_gray, images.to_grayscale_28, *_CIFAR)),
    "mnist": Source(images.load_mnist, images.mnist_files, (
        images.load_mnist, images.mnist_files, images._pixels, splits.check_labels, splits.first_per_class)),
    "cifar10_search": Source(images.load_cifar10_search, images.cifar10_files_for(images.load_cifar10_search),
                             (images.load_cifar10_search, splits.last_per_class, *_CIFAR)),
    "shakespeare_words": Source(text.load_shakespeare_words, text.shakespeare_files, (
        text.load_shakespeare_words, text.shakespeare_files, text._read_utf8, text.words, text.split_tokens,
        text.build_vocabulary, text.encode, text.sequence_windows)),
}


def load(name, data_kwargs, data_dir):
    """The arrays of source `name` with `data_kwargs` under `data_dir` (loaded once per process)."""
    return _load(name, json.dumps(data_kwargs, sort_keys=True), str(data_dir))


@functools.lru_cache(maxsize=4)
def _load(name, data_kwargs_json, data_dir):
    return SOURCES[name].load(data_dir=data_dir, **json.loads(data_kwargs_json))
