"""The course's DBpedia subset (Study B): CSV reading, cleaning, character and word ids.

Lines are `label, text` followed by a run of empty fields (`,,,,,,,`), with no
header and no quoting. Texts are lower-cased and cleaned to letters, digits,
space, comma, full stop and apostrophe, then encoded as 100 character ids (the
byte value; 0 pads) or 100 word ids (vocabulary of the training set; 0 pads,
1 is out of vocabulary), truncated or padded at the end.
"""

import collections
import dataclasses
import hashlib
import re
import unicodedata

import numpy as np

from lib import paths

DBPEDIA_DIR = "dbpedia-medium"
# No public URL serves this course subset: a missing file can only be reported.
DBPEDIA_SHA256 = {
    "train_medium.csv": "9c5816b344282bf25b5969c8f4c2ee0d3403d464e4f241ed77f5d6de33187ef5",
    "test_medium.csv": "7b00dbd17689f1fbe30473cb3122872a61160fee1d1e70c227d64e4e9a84dc10",
}
# The DBpedia ontology classes behind labels 1..14 (Zhang et al. 2015, classes.txt).
DBPEDIA_CLASSES = {
    1: "Company", 2: "EducationalInstitution", 3: "Artist", 4: "Athlete", 5: "OfficeHolder",
    6: "MeanOfTransportation", 7: "Building", 8: "NaturalPlace", 9: "Village", 10: "Animal",
    11: "Plant", 12: "Album", 13: "Film", 14: "WrittenWork",
}
ENCODINGS = ("char", "word")
CHARACTERS = 256  # character id = byte value of the cleaned (ASCII) text
PAD, OOV = 0, 1  # word ids; words of the vocabulary start at 2

_NOT_KEPT = re.compile(r"[^a-z0-9 ,.']+")
_WORD = re.compile(r"[a-z0-9']+")


@dataclasses.dataclass(frozen=True)
class TextData:
    """Encoded texts (N, length) int32 with 0-based class ids.

    `class_labels[i]` is the CSV label of class i; `vocabulary[i]` the word of
    word id i ("<pad>", "<oov>", then the training words), empty for "char".
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_labels: tuple
    class_names: tuple
    vocabulary: tuple
    vocabulary_size: int
    files: dict  # file name -> {"sha256": ..., "copy": ...}, for provenance


def clean_text(text):
    """Lower-case `text` and keep letters, digits, space, comma, full stop and apostrophe.

    Accents are folded to ASCII (é -> e), the typographic apostrophe becomes
    "'", any other run of characters becomes one space, and spaces collapse.
    """
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'").lower())
    folded = "".join(character for character in decomposed if not unicodedata.combining(character))
    return " ".join(_NOT_KEPT.sub(" ", folded).split())


def read_csv(path):
    """Read one DBpedia CSV into labels and raw texts.

    Args:
        path: a file of `label, text` lines; trailing empty fields are ignored.

    Returns:
        `(labels, texts)`: int64 array (N,) of the CSV labels and a list of str.

    Raises:
        ValueError: a line has no label, a label that is not an integer, or
            an empty text; the message names the file and line number.
    """
    labels, texts = [], []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            label, separator, text = line.partition(",")
            text = text.rstrip(", ").strip()
            if not separator or not label.strip():
                raise ValueError(f"{path}, line {number}: no label; expected 'label, text'. Received: {line[:60]!r}.")
            if not label.strip().isdigit():
                raise ValueError(f"{path}, line {number}: the label {label.strip()!r} is not an integer.")
            if not text:
                raise ValueError(f"{path}, line {number}: the text is empty.")
            labels.append(int(label))
            texts.append(text)
    return np.asarray(labels, dtype=np.int64), texts


def encode_chars(texts, length=100):
    """Cleaned texts as byte values, truncated or padded with 0 to `length`."""
    ids = np.zeros((len(texts), length), dtype=np.int32)
    for row, text in zip(ids, texts):
        codes = np.frombuffer(text.encode("ascii")[:length], dtype=np.uint8)
        row[: len(codes)] = codes
    return ids


def words(text):
    """The words of a cleaned text: runs of letters, digits and apostrophes (punctuation dropped)."""
    return _WORD.findall(text)


def build_vocabulary(texts):
    """("<pad>", "<oov>", the words of `texts` by falling count, ties alphabetical)."""
    counts = collections.Counter(word for text in texts for word in words(text))
    return ("<pad>", "<oov>", *sorted(counts, key=lambda word: (-counts[word], word)))


def encode_words(texts, vocabulary, length=100):
    """Word ids of cleaned texts (OOV for words outside `vocabulary`), truncated or padded with 0."""
    index = {word: i for i, word in enumerate(vocabulary)}
    ids = np.full((len(texts), length), PAD, dtype=np.int32)
    for row, text in zip(ids, texts):
        found = [index.get(word, OOV) for word in words(text)[:length]]
        row[: len(found)] = found
    return ids


def dbpedia_files(data_dir=None, **_subset):
    """Paths of `train_medium.csv` and `test_medium.csv` under `<data_dir>/dbpedia-medium/`.

    Raises:
        FileNotFoundError: a file is missing (there is no public download);
            the message names the path, its sha256 and DATA_DIR.
    """
    directory = paths.data_dir(data_dir) / DBPEDIA_DIR
    files = {name: directory / name for name in DBPEDIA_SHA256}
    for name, path in files.items():
        if not path.is_file():
            raise FileNotFoundError(
                f"DBpedia file {name} not found at {path}. This course subset has no public download: copy "
                f"the course's {name} (sha256 {DBPEDIA_SHA256[name]}) into {directory}, or point DATA_DIR "
                f"(make DATA_DIR=...) at a directory holding {DBPEDIA_DIR}/."
            )
    return files


def load_dbpedia(data_dir=None, encoding="char", train_per_class=None, test_per_class=None, length=100):
    """The course's DBpedia subset as character or word ids.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        encoding: "char" (byte values) or "word" (training-set vocabulary).
        train_per_class: keep the first N training texts of each class (the
            vocabulary is built from these); `None` (the default) keeps all.
        test_per_class: the same for the test texts.
        length: ids per text. Defaults to 100.

    Returns:
        `TextData`.
    """
    from lib import datasets  # here, not at the top: datasets imports this module for SOURCES

    if encoding not in ENCODINGS:
        raise ValueError(f"Unknown encoding: {encoding!r}. Expected one of {ENCODINGS}.")
    files = dbpedia_files(data_dir)
    splits = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels, texts = read_csv(files[f"{split}_medium.csv"])
        keep = datasets.first_per_class(labels, per_class)
        splits[split] = (labels[keep], [clean_text(texts[i]) for i in keep])
    class_labels = tuple(int(label) for label in np.unique(splits["train"][0]))
    unknown = sorted(set(splits["test"][0].tolist()) - set(class_labels))
    if unknown:
        raise ValueError(f"{files['test_medium.csv']} has labels {unknown} that the training file lacks.")
    vocabulary = build_vocabulary(splits["train"][1]) if encoding == "word" else ()
    encode = (lambda texts: encode_words(texts, vocabulary, length)) if encoding == "word" else (lambda texts: encode_chars(texts, length))
    provenance = {}
    for name, path in files.items():
        with open(path, "rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        provenance[name] = {"sha256": digest, "copy": "course file" if digest == DBPEDIA_SHA256[name] else "user-provided (differs from the course file)"}
    return TextData(
        x_train=encode(splits["train"][1]),
        y_train=np.searchsorted(class_labels, splits["train"][0]).astype(np.int64),
        x_test=encode(splits["test"][1]),
        y_test=np.searchsorted(class_labels, splits["test"][0]).astype(np.int64),
        class_labels=class_labels,
        class_names=tuple(DBPEDIA_CLASSES.get(label, str(label)) for label in class_labels),
        vocabulary=vocabulary,
        vocabulary_size=len(vocabulary) if encoding == "word" else CHARACTERS,
        files=provenance,
    )


def decode(ids, vocabulary=()):
    """Ids back to text (padding dropped): bytes for character ids, words joined by spaces for word ids."""
    ids = [int(i) for i in ids if i != PAD]
    if not vocabulary:
        return bytes(ids).decode("ascii", "replace")
    return " ".join(vocabulary[i] for i in ids)
