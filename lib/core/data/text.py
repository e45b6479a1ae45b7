"""Text data sets: the course's DBpedia subset (Study B) and tiny Shakespeare (Study E).

Both split text into words and number them by a vocabulary built once here
(`words`, `build_vocabulary`, `encode`); each data set keeps its own rules,
passed as arguments: which characters make a word, which ids are reserved,
whether the vocabulary is capped.

DBpedia lines are `label, text` followed by a run of empty fields (`,,,,,,,`), with no
header and no quoting. Texts are lower-cased and cleaned to letters, digits,
space, comma, full stop and apostrophe, then encoded as 100 character ids (the
byte value; 0 pads) or 100 word ids (vocabulary of the training set; 0 pads,
1 is out of vocabulary), truncated or padded at the end. Tiny Shakespeare is
lower-cased words (letters with inner apostrophes) numbered by falling
frequency after the unknown word at 0, cut into windows for next-word
prediction.
"""

import collections
import dataclasses
import io
import re
import unicodedata
from pathlib import Path

import numpy as np

from lib import paths
from lib.core.data import fetch
from lib.core.data.splits import HeldOutSplits, first_per_class
from lib.files import sha256

DBPEDIA_DIR = "dbpedia-medium"
# The course subset as the Study A/B author published it, at a pinned commit; <name> is a key of DBPEDIA_SHA256.
DBPEDIA_URL = ("https://raw.githubusercontent.com/tanchuanxin/cz4042_assignment_2/"
               "9e47938991e420f958ffa32e0fad665f5cd358bd/2b/{name}")
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
# What a word is: in a cleaned DBpedia text, a run of letters, digits and
# apostrophes; in Shakespeare, letters with inner apostrophes ("know't").
DBPEDIA_WORD = re.compile(r"[a-z0-9']+")
SHAKESPEARE_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


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


def _read_utf8(path):
    """The text of `path` with universal newlines; a byte that is not UTF-8 is a ValueError naming the file and position."""
    raw = Path(path).read_bytes()
    try:
        return io.StringIO(raw.decode("utf-8"), newline=None).read()
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path}, line {line} (byte {error.start}): the file is not UTF-8 text ({error.reason}: "
                         f"{raw[error.start:error.end]!r}). Expected a UTF-8 encoded file.") from None


def read_csv(path):
    """Read one DBpedia CSV into labels and raw texts.

    Args:
        path: a UTF-8 file of `label, text` lines, labels from 1 to 14 (the
            course's classes); trailing empty fields are ignored.

    Returns:
        `(labels, texts)`: int64 array (N,) of the CSV labels and a list of str.

    Raises:
        ValueError: the file is empty or not UTF-8, or a line has no label,
            a label that is not an integer from 1 to 14, or an empty text;
            the message names the file and line number.
    """
    labels, texts = [], []
    low, high = min(DBPEDIA_CLASSES), max(DBPEDIA_CLASSES)
    for number, line in enumerate(_read_utf8(path).split("\n"), 1):
        if not line.strip():
            continue
        label, separator, text = line.partition(",")
        label, text = label.strip(), text.rstrip(", ").strip()
        if not separator or not label:
            raise ValueError(f"{path}, line {number}: no label; expected 'label, text'. Received: {line[:60]!r}.")
        if not re.fullmatch(r"[+-]?[0-9]+", label):
            raise ValueError(f"{path}, line {number}: the label {label!r} is not an integer. "
                             f"Expected an integer from {low} to {high}.")
        if not low <= int(label) <= high:
            raise ValueError(f"{path}, line {number}: the label {label} is outside the course's {high} DBpedia classes. "
                             f"Expected an integer from {low} to {high}.")
        if not text:
            raise ValueError(f"{path}, line {number}: the text is empty.")
        labels.append(int(label))
        texts.append(text)
    if not labels:
        raise ValueError(f"{path}: no 'label, text' lines; an empty split cannot be trained or evaluated.")
    return np.asarray(labels, dtype=np.int64), texts


def encode_chars(texts, length=100):
    """Cleaned texts as byte values, truncated or padded with 0 to `length`."""
    ids = np.zeros((len(texts), length), dtype=np.int32)
    for row, text in zip(ids, texts):
        codes = np.frombuffer(text.encode("ascii")[:length], dtype=np.uint8)
        row[: len(codes)] = codes
    return ids


def words(text, pattern=DBPEDIA_WORD):
    """The words of `text`, lower-cased: the matches of `pattern` (punctuation dropped)."""
    return pattern.findall(text.lower())


def build_vocabulary(tokens, reserved=("<pad>", "<oov>"), size=None):
    """`reserved` entries, then the words of `tokens` by falling count (ties alphabetical).

    Args:
        tokens: the training words (only they decide the vocabulary).
        reserved: entries that come first, e.g. padding and out-of-vocabulary.
        size: at most this many entries, `reserved` included; `None` keeps every word.

    Returns:
        tuple of words; a word's id is its index.
    """
    if size is not None and (not isinstance(size, int) or size < len(reserved) + 1):
        raise ValueError(f"Invalid value for `size`. Received: size={size!r}. Expected an integer >= {len(reserved) + 1} or None.")
    counts = collections.Counter(tokens)
    ranked = sorted(counts, key=lambda word: (-counts[word], word))
    return (*reserved, *ranked[: None if size is None else size - len(reserved)])


def encode(tokens, vocabulary, unknown):
    """Word ids of `tokens`; words outside `vocabulary` get the id `unknown`."""
    index = {word: i for i, word in enumerate(vocabulary)}
    return np.array([index.get(token, unknown) for token in tokens], dtype=np.int32)


def encode_words(texts, vocabulary, length=100):
    """Word ids of cleaned texts (OOV for words outside `vocabulary`), truncated or padded with 0."""
    kept = [words(text)[:length] for text in texts]
    # One `encode` call for all texts: it indexes the vocabulary once (per text, 50 s for Study B's).
    found = np.split(encode([word for text in kept for word in text], vocabulary, OOV), np.cumsum([len(text) for text in kept])[:-1])
    ids = np.full((len(texts), length), PAD, dtype=np.int32)
    for row, text in zip(ids, found):
        row[: len(text)] = text
    return ids


def dbpedia_files(data_dir=None, **_subset):
    """Paths of `train_medium.csv` and `test_medium.csv` under `<data_dir>/dbpedia-medium/`.

    A missing file is downloaded from the author's pinned commit
    (`DBPEDIA_URL`) and kept only if its sha256 is the course file's.

    Raises:
        FileNotFoundError: a file is missing and the download failed or
            had the wrong sha256; the message names the path, the URL, the
            sha256 and DATA_DIR.
    """
    directory = paths.data_dir(data_dir) / DBPEDIA_DIR
    return {name: fetch.if_missing(DBPEDIA_URL.format(name=name), directory / name, f"DBpedia file {name}",
                                   sha256=digest, holding=f"{DBPEDIA_DIR}/")
            for name, digest in DBPEDIA_SHA256.items()}


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
    if encoding not in ENCODINGS:
        raise ValueError(f"Unknown encoding: {encoding!r}. Expected one of {ENCODINGS}.")
    files = dbpedia_files(data_dir)
    splits = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels, texts = read_csv(files[f"{split}_medium.csv"])
        keep = first_per_class(labels, per_class)
        splits[split] = (labels[keep], [clean_text(texts[i]) for i in keep])
    class_labels = tuple(int(label) for label in np.unique(splits["train"][0]))
    unknown = sorted(set(splits["test"][0].tolist()) - set(class_labels))
    if unknown:
        raise ValueError(f"{files['test_medium.csv']} has labels {unknown} that the training file lacks.")
    vocabulary = build_vocabulary([word for text in splits["train"][1] for word in words(text)]) if encoding == "word" else ()
    encode = (lambda texts: encode_words(texts, vocabulary, length)) if encoding == "word" else (lambda texts: encode_chars(texts, length))
    provenance = {}
    for name, path in files.items():
        digest = sha256(path)
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


SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_FILE = "tinyshakespeare/input.txt"
UNKNOWN_WORD = "<unk>"  # id 0 of the Shakespeare vocabulary


def shakespeare_files(data_dir=None, **_options):
    """{"input.txt": Path} of tiny Shakespeare, downloaded (sha256-checked) if missing.

    Raises:
        FileNotFoundError: the file is missing and the download failed.
    """
    path = paths.data_dir(data_dir) / SHAKESPEARE_FILE
    return {"input.txt": fetch.if_missing(SHAKESPEARE_URL, path, "Tiny Shakespeare", sha256=SHAKESPEARE_SHA256,
                                          holding=SHAKESPEARE_FILE)}


def split_tokens(tokens, validation_fraction=0.1, test_fraction=0.1):
    """Contiguous train / validation / test parts of a token list (in that order).

    Returns:
        (train, validation, test) lists.
    """
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0 < value < 0.5:
            raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected 0 < {name} < 0.5.")
    train_end = round(len(tokens) * (1 - validation_fraction - test_fraction))
    validation_end = round(len(tokens) * (1 - test_fraction))
    return tokens[:train_end], tokens[train_end:validation_end], tokens[validation_end:]


def sequence_windows(ids, length, source=None):
    """Non-overlapping windows for next-word prediction.

    Window i reads ids[i*length : (i+1)*length] and its targets are the same
    span shifted by one word.

    Args:
        ids: word ids.
        length: words per window.
        source: where the words come from (a file and part), named in errors.

    Returns:
        (inputs, targets): int32 arrays of shape (windows, length).
    """
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"Invalid value for `length`. Received: length={length!r}. Expected a positive integer.")
    count = (len(ids) - 1) // length
    if count < 1:
        raise ValueError(f"{source + ': ' if source else ''}Too few words ({len(ids)}) for one window of {length} "
                         "words plus its next word.")
    ids = np.asarray(ids, dtype=np.int32)
    inputs = ids[: count * length].reshape(count, length)
    targets = ids[1 : count * length + 1].reshape(count, length)
    return inputs, targets


@dataclasses.dataclass(frozen=True)
class WordData(HeldOutSplits):
    """Word windows of a text for a language model (see `load_shakespeare_words`): training, validation, test."""

    vocabulary: tuple


def load_shakespeare_words(data_dir=None, sequence_length=32, vocabulary_size=None, train_words=None, heldout_words=None):
    """Tiny Shakespeare as word windows: 80% train, 10% validation, 10% test, contiguous.

    Args:
        data_dir: data directory; defaults to `lib.paths.data_dir()`.
        sequence_length: words per window. Defaults to 32.
        vocabulary_size: vocabulary entries including `UNKNOWN_WORD`, the
            most frequent training words; `None` (the default) keeps all.
        train_words: use only the first N words of the training part (`None`: all).
        heldout_words: use only the first N words of the validation and of
            the test part (`None`: all).

    Returns:
        `WordData`.
    """
    files = shakespeare_files(data_dir)
    train, validation, test = split_tokens(words(_read_utf8(files["input.txt"]), SHAKESPEARE_WORD))
    train, validation, test = train[:train_words], validation[:heldout_words], test[:heldout_words]
    vocabulary = build_vocabulary(train, (UNKNOWN_WORD,), vocabulary_size)
    parts = [sequence_windows(encode(tokens, vocabulary, 0), sequence_length, f"{files['input.txt']}, {part} part")
             for part, tokens in (("training", train), ("validation", validation), ("test", test))]
    digest = sha256(files["input.txt"])
    return WordData(
        x_train=parts[0][0], y_train=parts[0][1], x_test=parts[1][0], y_test=parts[1][1],
        x_heldout=parts[2][0], y_heldout=parts[2][1], vocabulary=vocabulary,
        files={"input.txt": {"sha256": digest, "copy": "known tiny Shakespeare" if digest == SHAKESPEARE_SHA256 else "unknown copy"}},
    )
