"""Study B: the DBpedia loader, the text model factories, the run configs and the notebooks (smoke)."""

import json
import os
import re

import keras
import numpy as np
import pytest

from lib.core import models, runs
from lib.core.data import text
from lib.runner import execute
from lib.studies import b as study_b

LONG = "word " * 30  # 150 characters, 30 words

TRAIN_LINES = [
    "1, Acme Corp. is a company, founded in 1990.,,,,,,,",
    "2, The school's pupils learn Zürich–history." + ",,,",
    "2, " + LONG + ",,,,,,,",
    "1, Another company.,,,,,,,",
]
TEST_LINES = ["2, The school's zebracorn.,,,", "1, Acme Corp. again,,,,"]


def _write_dbpedia(root, train=TRAIN_LINES, test=TEST_LINES):
    folder = root / "dbpedia-medium"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_medium.csv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (folder / "test_medium.csv").write_text("\n".join(test) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def tiny_dbpedia(tmp_path):
    return _write_dbpedia(tmp_path / "data")


def test_clean_text_keeps_letters_digits_and_four_marks():
    assert text.clean_text("The School’s  Zürich–history, 1990. (Bbc)!") == "the school's zurich history, 1990. bbc"


def test_loader_reads_labels_texts_and_encodes_chars(tiny_dbpedia):
    data = text.load_dbpedia(tiny_dbpedia, encoding="char")
    assert data.class_labels == (1, 2) and data.class_names == ("Company", "EducationalInstitution")
    assert data.y_train.tolist() == [0, 1, 1, 0] and data.y_test.tolist() == [1, 0]
    assert data.x_train.shape == (4, 100) and data.x_train.dtype == np.int32 and data.vocabulary_size == 256
    # Trailing empty fields are gone, the comma inside the text stays, the text is lower-cased.
    assert text.decode(data.x_train[0]) == "acme corp. is a company, founded in 1990."
    assert text.decode(data.x_train[1]) == "the school's pupils learn zurich history."
    assert data.x_train[0, 41:].tolist() == [0] * 59  # padded with 0 after 41 characters
    assert text.decode(data.x_train[2]) == LONG.strip()[:100]  # truncated to 100
    assert data.files["train_medium.csv"]["copy"].startswith("user-provided")


def test_loader_word_ids_from_the_training_vocabulary(tiny_dbpedia):
    data = text.load_dbpedia(tiny_dbpedia, encoding="word")
    vocabulary = data.vocabulary
    assert vocabulary[:3] == ("<pad>", "<oov>", "word") and "school's" in vocabulary  # most frequent first
    assert data.vocabulary_size == len(vocabulary) and "zebracorn" not in vocabulary
    assert text.decode(data.x_test[0], vocabulary) == "the school's <oov>"
    assert data.x_test[0, 2] == text.OOV and data.x_test[0, 3:].tolist() == [0] * 97
    assert (data.x_train[2] == vocabulary.index("word")).sum() == 30


def test_per_class_subset_builds_the_vocabulary_from_the_subset(tiny_dbpedia):
    data = text.load_dbpedia(tiny_dbpedia, encoding="word", train_per_class=1, test_per_class=1)
    assert data.y_train.tolist() == [0, 1] and "another" not in data.vocabulary


@pytest.mark.parametrize(
    "line, message",
    [
        ("Acme is a company,,,", r"train_medium.csv, line 3: the label 'Acme is a company' is not an integer."),
        (", a text without label,,", r"train_medium.csv, line 3: no label"),
        ("x1, a text,,", r"train_medium.csv, line 3: the label 'x1' is not an integer."),
        ("3,,,,,,", r"train_medium.csv, line 3: the text is empty."),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    root = _write_dbpedia(tmp_path, train=TRAIN_LINES[:2] + [line])
    with pytest.raises(ValueError, match=message):
        text.load_dbpedia(root)


def test_missing_file_names_path_checksum_and_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "DBPEDIA_URL", "http://127.0.0.1:9/2b/{name}")  # refused at once, offline
    with pytest.raises(FileNotFoundError, match=(
        rf"DBpedia file train_medium.csv not found at {re.escape(str(tmp_path))}/dbpedia-medium/train_medium.csv, "
        r"and downloading http://127.0.0.1:9/2b/train_medium.csv failed .*sha256 9c5816b344282bf25b5969c8f4c2ee0d3403d464e4f241ed77f5d6de33187ef5.*DATA_DIR")):
        text.load_dbpedia(tmp_path)


def test_unknown_encoding_is_refused(tiny_dbpedia):
    with pytest.raises(ValueError, match=r"Unknown encoding: 'bytes'. Expected one of \('char', 'word'\)."):
        text.load_dbpedia(tiny_dbpedia, encoding="bytes")


def test_lookup_char_convolution_equals_one_hot_convolution():
    ids = np.random.default_rng(0).integers(0, 256, (6, 100)).astype("int32")
    lookup, one_hot = models.build_char_cnn(lookup=True), models.build_char_cnn(lookup=False)
    one_hot.set_weights(lookup.get_weights())
    c1 = [keras.Model(m.input, m.get_layer("C1").output).predict(ids, verbose=0) for m in (lookup, one_hot)]
    assert c1[0].shape == (6, 81, 10) and np.abs(c1[0]).max() > 0.1
    np.testing.assert_allclose(c1[0], c1[1], atol=1e-5)
    np.testing.assert_allclose(lookup.predict(ids, verbose=0), one_hot.predict(ids, verbose=0), atol=1e-6)


@pytest.mark.parametrize(
    "factory, kwargs, parameters",
    [
        (models.build_char_cnn, {}, 20 * 256 * 10 + 10 + 20 * 10 * 10 + 10 + 110 * 14 + 14),
        (models.build_word_cnn, {"vocabulary_size": 50}, 50 * 20 + 20 * 20 * 10 + 10 + 20 * 10 * 10 + 10 + 110 * 14 + 14),
        (models.build_char_rnn, {}, 3 * (256 * 20 + 20 * 20 + 2 * 20) + 20 * 14 + 14),
        (models.build_word_rnn, {"vocabulary_size": 50, "cell": "lstm"}, 50 * 20 + 4 * (20 * 20 + 20 * 20 + 20) + 20 * 14 + 14),
        (models.build_char_rnn, {"cell": "simple_rnn", "num_layers": 2, "dropout": 0.5}, (256 * 20 + 20 * 20 + 20) + (20 * 20 + 20 * 20 + 20) + 20 * 14 + 14),
    ],
)
def test_factories_shapes_parameters_and_forward_pass(factory, kwargs, parameters):
    model = factory(num_classes=14, **kwargs)
    ids = np.random.default_rng(1).integers(0, 50, (3, 100)).astype("int32")
    ids[0, 10:] = 0  # padding
    probabilities = model.predict(ids, verbose=0)
    assert model.output_shape == (None, 14) and probabilities.shape == (3, 14)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.count_params() == parameters


def test_rnn_ignores_padding():
    padded = models.build_word_rnn(vocabulary_size=50)
    unpadded = models.build_word_rnn(vocabulary_size=50, length=5)
    unpadded.set_weights(padded.get_weights())
    ids = np.zeros((1, 100), dtype="int32")
    ids[0, :5] = [3, 4, 5, 6, 7]
    np.testing.assert_allclose(padded.predict(ids, verbose=0), unpadded.predict(ids[:, :5], verbose=0), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cell": "rnn"}, r"Unknown cell: 'rnn'. Expected one of \('simple_rnn', 'lstm', 'gru'\)."),
        ({"num_layers": 0}, r"Invalid value for `num_layers`. Received: num_layers=0. Expected a positive integer."),
        ({"dropout": 1.0}, r"Invalid value for `dropout`. Received: dropout=1.0. Expected a rate in \[0, 1\)."),
    ],
)
def test_rnn_factory_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_char_rnn(**kwargs)


def test_gradient_clipping_is_configured_in_the_optimizer(outputs, tiny_dbpedia):
    configs = study_b.rnn_variant_configs(runs.setup("smoke", str(tiny_dbpedia)))
    clipped = configs[("word_rnn", "gru_clipnorm_2")]
    assert clipped.clipnorm == 2.0 and all(c.clipnorm == 0 for key, c in configs.items() if key[1] != "gru_clipnorm_2")
    optimizer = models.make_optimizer(clipped.optimizer, clipped.lr, clipped.momentum, clipped.clipnorm)
    assert isinstance(optimizer, keras.optimizers.Adam) and optimizer.clipnorm == 2.0
    # The clipped step: SGD with learning rate 1 moves a variable by the clipped gradient (norm 2, not 10).
    variable = keras.Variable(np.zeros(2, dtype="float32"))
    models.make_optimizer("sgd", 1.0, clipnorm=2.0).apply_gradients([(keras.ops.convert_to_tensor([6.0, 8.0]), variable)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [-1.2, -1.6], rtol=1e-6)


def test_configs_share_runs_between_questions(outputs, tiny_dbpedia):
    session = runs.setup("smoke", str(tiny_dbpedia))
    q3 = study_b.config(session, "char_rnn")
    pairs = study_b.dropout_configs(session)
    variants = study_b.rnn_variant_configs(session)
    word = study_b.config(session, "word_cnn")
    assert pairs["char GRU"][0] == q3 and variants[("char_rnn", "gru")] == q3  # one cached run serves Q3, Q5 and Q6
    assert pairs["char GRU"][1].model_kwargs["dropout"] == study_b.DROPOUT
    assert (q3.optimizer, q3.lr, q3.batch_size, q3.data_kwargs["encoding"]) == ("adam", 0.01, 128, "char")
    assert word.model_kwargs["vocabulary_size"] == text.load_dbpedia(tiny_dbpedia, "word", 5, 2).vocabulary_size
    assert variants[("word_rnn", "gru_2_layers")].model_kwargs["num_layers"] == 2
    with pytest.raises(ValueError, match=r"`cell` and `num_layers` apply to RNN models only."):
        study_b.config(session, "char_cnn", cell="lstm")


def test_study_b_notebooks_smoke_through_the_runner(outputs, capsys):
    data_dir = os.environ.get("DATA_DIR", "")
    notebooks = ["b_q1_char_cnn", "b_q2_word_cnn", "b_q3_char_rnn", "b_q4_word_rnn", "b_q5_dropout", "b_q6_rnn_variants"]
    argv = ["--reports-dir", str(outputs / "reports"), "--quiet", "--profile", "smoke", "--data-dir", data_dir, "--only", *notebooks]
    assert execute.main(argv) == 0, capsys.readouterr()
    for name in notebooks:
        assert name in study_b.CPU_HOURS
    histories = [json.loads(path.read_text()) for path in (outputs / "history_dir" / "b").glob("*.json")]
    assert len(histories) == 4 + 4 + 8  # Q5 and Q6 reuse Q1-Q4's runs
    assert all(len(h["epoch"]) == 2 and h["provenance"]["profile"] == "smoke" for h in histories)
    q1 = (outputs / "reports" / "b_q1_char_cnn.html").read_text()
    assert "0.67" in q1 and "[Building]" in q1  # published beside ours; a decoded training text
    q6 = (outputs / "reports" / "b_q6_rnn_variants.html").read_text()
    assert "gru_clipnorm_2" in q6 and "0.89" in q6
    saved = json.loads((outputs / "history_dir" / "results" / "smoke" / "b_q5.json").read_text())
    assert set(saved["ours"]) >= {"char_cnn_test_accuracy_final", "word_rnn_dropout_test_accuracy_final"}
    figures = outputs / "figure_dir"
    for name in ["b_q1/cost.png", "b_q4/accuracy.png", "b_q5/char_CNN_dropout.png", "b_q6/word_test_accuracy.png"]:
        assert (figures / name).stat().st_size > 1000, name
