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


@pytest.mark.parametrize("factory", [models.build_char_rnn, lambda **kwargs: models.build_word_rnn(vocabulary_size=50, **kwargs)])
def test_rnn_reads_the_padding_as_the_original_unless_masked(factory):
    ids = np.zeros((1, 100), dtype="int32")
    ids[0, :5] = [3, 4, 5, 6, 7]
    masked, short = factory(mask_padding=True), factory(mask_padding=True, length=5)
    short.set_weights(masked.get_weights())
    np.testing.assert_allclose(masked.predict(ids, verbose=0), short.predict(ids[:, :5], verbose=0), rtol=1e-5)
    original = factory()  # the padding steps change the last state
    original.set_weights(masked.get_weights())
    assert not np.allclose(original.predict(ids, verbose=0), short.predict(ids[:, :5], verbose=0), rtol=1e-3)


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


def test_gradient_clipping_is_by_value_as_the_original(outputs, tiny_dbpedia):
    configs = study_b.rnn_variant_configs(runs.setup("smoke", str(tiny_dbpedia)))
    clipped = configs[("word_rnn", "gru_clipvalue_2")]
    assert clipped.clipvalue == 2.0 and all(c.clipvalue == 0 for key, c in configs.items() if key[1] != "gru_clipvalue_2")
    optimizer = models.make_optimizer(clipped.optimizer, clipped.lr, clipped.momentum, clipped.clipvalue)
    assert isinstance(optimizer, keras.optimizers.Adam) and optimizer.clipvalue == 2.0 and optimizer.clipnorm is None
    # The clipped step: SGD with learning rate 1 moves a variable by each gradient element clipped to [-2, 2].
    variable = keras.Variable(np.zeros(3, dtype="float32"))
    models.make_optimizer("sgd", 1.0, clipvalue=2.0).apply_gradients([(keras.ops.convert_to_tensor([6.0, -8.0, 0.5]), variable)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [-2.0, 2.0, -0.5], rtol=1e-6)


@pytest.mark.parametrize("profile, cnn_epochs, rnn_epochs", [("quick", 250, 20), ("full", 250, 100)])
def test_settings_are_the_originals(outputs, tiny_dbpedia, profile, cnn_epochs, rnn_epochs):
    # ORIGINALS.md: CNNs SGD at 0.01 for 250 epochs, RNNs Adam at 0.01 for 100, batch 128,
    # no masking of the padding, clipping by value at 2 (Q6c).
    session = runs.setup(profile, str(tiny_dbpedia))
    for model in ("char_cnn", "word_cnn"):
        config = study_b.config(session, model)
        assert (config.optimizer, config.lr, config.batch_size, config.epochs, config.clipvalue) == ("sgd", 0.01, 128, cnn_epochs, 0.0)
    for model in ("char_rnn", "word_rnn"):
        config = study_b.config(session, model)
        assert (config.optimizer, config.lr, config.batch_size, config.epochs) == ("adam", 0.01, 128, rnn_epochs)
        assert config.model_kwargs["mask_padding"] is False
    for (model, variant), config in study_b.rnn_variant_configs(session).items():
        assert config.model_kwargs["mask_padding"] is False and config.optimizer == "adam", (model, variant)
    for pair in study_b.dropout_configs(session).values():
        assert [c.optimizer for c in pair] == [pair[0].optimizer] * 2 and pair[1].model_kwargs["dropout"] == 0.5
    # Our extra runs are labelled as ours and change one setting only.
    for model in study_b.BASE_MODELS:
        label, extra = study_b.ours_config(session, model)
        original = study_b.config(session, model)
        changed = {name for name, value in extra.as_dict().items() if value != original.as_dict()[name]}
        assert "(ours)" in label
        assert changed == ({"optimizer", "epochs"} if profile == "quick" and model.endswith("cnn") else
                           {"optimizer"} if model.endswith("cnn") else {"model_kwargs"}), (model, changed)


def test_configs_share_runs_between_questions(outputs, tiny_dbpedia):
    session = runs.setup("smoke", str(tiny_dbpedia))
    q3 = study_b.config(session, "char_rnn")
    pairs = study_b.dropout_configs(session)
    variants = study_b.rnn_variant_configs(session)
    word = study_b.config(session, "word_cnn")
    assert pairs["char GRU"][0] == q3 and variants[("char_rnn", "gru")] == q3  # one cached run serves Q3, Q5 and Q6
    assert pairs["char GRU"][1].model_kwargs["dropout"] == study_b.DROPOUT
    assert q3.data_kwargs["encoding"] == "char"
    assert word.model_kwargs["vocabulary_size"] == text.load_dbpedia(tiny_dbpedia, "word", 5, 2).vocabulary_size
    assert variants[("word_rnn", "gru_2_layers")].model_kwargs["num_layers"] == 2
    with pytest.raises(ValueError, match=r"`cell`, `num_layers` and `mask_padding` apply to RNN models only."):
        study_b.config(session, "char_cnn", cell="lstm")


def test_study_b_notebooks_smoke_through_the_runner(outputs, capsys):
    data_dir = os.environ.get("DATA_DIR", "")
    notebooks = ["b_q1_char_cnn", "b_q2_word_cnn", "b_q3_char_rnn", "b_q4_word_rnn", "b_q5_dropout", "b_q6_rnn_variants"]
    argv = ["--reports-dir", str(outputs / "reports"), "--quiet", "--profile", "smoke", "--data-dir", data_dir, "--only", *notebooks]
    assert execute.main(argv) == 0, capsys.readouterr()
    for name in notebooks:
        assert name in study_b.CPU_HOURS
    histories = [json.loads(path.read_text()) for path in (outputs / "history_dir" / "b").glob("*.json")]
    assert len(histories) == 4 + 4 + 4 + 8  # Q1-Q4 and their extra runs; Q5 and Q6 reuse Q1-Q4's runs
    assert all(len(h["epoch"]) == 2 and h["provenance"]["profile"] == "smoke" for h in histories)
    q1 = (outputs / "reports" / "b_q1_char_cnn.html").read_text()
    assert "0.6714" in q1 and "[Building]" in q1 and "Adam (ours)" in q1  # published beside ours; a decoded text; the extra run
    q6 = (outputs / "reports" / "b_q6_rnn_variants.html").read_text()
    assert "gru_clipvalue_2" in q6 and "0.8871" in q6
    saved = json.loads((outputs / "history_dir" / "results" / "smoke" / "b_q5.json").read_text())
    assert set(saved["ours"]) >= {"char_cnn_test_accuracy_final", "word_rnn_dropout_test_accuracy_final"}
    figures = outputs / "figure_dir"
    saved = json.loads((outputs / "history_dir" / "results" / "smoke" / "b_q6.json").read_text())
    curve_checks = [check for check in saved["checks"] if check["epoch"] is not None]
    assert len(curve_checks) == 10 * 2 and {check["verdict"] for check in curve_checks} == {"not comparable yet"}  # smoke data
    for name in ["b_q1/cost.png", "b_q1/ours.png", "b_q4/accuracy.png", "b_q5/char_CNN_dropout.png", "b_q6/word_test_accuracy.png"]:
        assert (figures / name).stat().st_size > 1000, name
