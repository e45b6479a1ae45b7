"""Study E: search space sampling, the text pipeline, perplexity, scores, Ray and the notebooks."""

import json
import math
import os

import keras
import numpy as np
import pytest

from conftest import session_for
from lib.core import evaluate, language, search
from lib.core.data import text
from lib.runner import execute
from lib.studies import e as study_e

TEXT = """First Citizen:
The cat sat; the DOG sat. Know't, the cat!

Second Citizen:
A dog, a cat and the bird sat on the mat.
"""


def _sample(tuner, count):
    # Trials as the search would start them, without training (distinct ids: parallel workers).
    return [tuner.oracle.create_trial(f"sampler{i}").hyperparameters.values for i in range(count)]


def _tuner(session, question, seed):
    if question == "e1":
        return study_e.cnn_tuner(session, seed=seed, trials=30)
    return study_e.lm_tuner(session, vocabulary_size=200, seed=seed, trials=30)


@pytest.mark.parametrize("question, space", [("e1", study_e.CNN_SPACE), ("e2", study_e.LM_SPACE)])
def test_sampling_covers_only_the_allowed_values_and_a_seed_repeats_its_sequence(session, monkeypatch, tmp_path, question, space):
    (session.data_dir / "tinyshakespeare").mkdir()
    (session.data_dir / "tinyshakespeare" / "input.txt").write_text(TEXT)  # the language model's configs hash their data file
    first = _sample(_tuner(session, question, seed=3), 30)
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path / "elsewhere"))  # a fresh tuner, not a reload
    again = _sample(_tuner(session, question, seed=3), 30)
    other = _sample(_tuner(session, question, seed=4), 30)
    assert first == again
    assert first != other
    for values in first + other:
        assert set(values) == set(space)
        assert all(value in space[name] for name, value in values.items()), values
    for name, allowed in space.items():
        assert {values[name] for values in first} == set(allowed), name  # 30 draws reach every value
    assert len({json.dumps(values, sort_keys=True) for values in first}) == 30  # no trial repeated


def test_language_model_space_and_configs():
    values = {name: allowed[-1] for name, allowed in study_e.LM_SPACE.items()}
    config = study_e.lm_config(session_for("quick"), values, vocabulary_size=3000, seed=2)
    assert (config.model, config.data, config.optimizer, config.lr, config.batch_size) == ("word_lm", "shakespeare_words", "rmsprop", 0.01, 128)
    assert config.model_kwargs == {"vocabulary_size": 3000, "embedding_dim": 200, "hidden_units": 256, "num_layers": 2,
                                   "activation": "tanh", "dropout": 0.5, "initializer": "he_normal"}
    with pytest.raises(ValueError, match=r"Unknown hidden_units: 100. Expected one of \(64, 128, 256\)"):
        study_e.lm_config(session_for("quick"), {**values, "hidden_units": 100}, vocabulary_size=3000)
    with pytest.raises(ValueError, match=r"Hyperparameters \['cell'\] do not match the search space"):
        study_e.lm_config(session_for("quick"), {**values, "cell": "gru"}, vocabulary_size=3000)
    assert search.oracle_seed(0) == 1  # KerasTuner reads seed 0 as "no seed"
    with pytest.raises(ValueError, match=r"Invalid value for `seed`. Received: seed=-1"):
        search.oracle_seed(-1)


def test_text_pipeline_split_vocabulary_unknown_words_and_windows(tmp_path):
    tokens = text.words(TEXT, text.SHAKESPEARE_WORD)
    assert tokens[:8] == ["first", "citizen", "the", "cat", "sat", "the", "dog", "sat"]
    assert "know't" in tokens and "," not in "".join(tokens)
    train, validation, test = text.split_tokens(list(range(20)), 0.1, 0.2)
    assert (train, validation, test) == (list(range(14)), [14, 15], list(range(16, 20)))
    with pytest.raises(ValueError, match=r"Invalid value for `test_fraction`. Received: test_fraction=0.5"):
        text.split_tokens(tokens, 0.1, 0.5)

    vocabulary = text.build_vocabulary(["b", "a", "c", "a", "b", "a"], (text.UNKNOWN_WORD,), size=3)
    assert vocabulary == ("<unk>", "a", "b")  # by frequency, then alphabetical; "c" did not fit
    assert text.encode(["a", "c", "zebra", "b"], vocabulary, 0).tolist() == [1, 0, 0, 2]

    inputs, targets = text.sequence_windows(np.arange(10), 3)
    assert inputs.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert targets.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(ValueError, match=r"Too few words \(3\) for one window of 3 words"):
        text.sequence_windows(np.arange(3), 3)

    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(TEXT + "zebra zebra ends here\n")
    data = text.load_shakespeare_words(tmp_path, sequence_length=2)
    words = text.words(TEXT + "zebra zebra ends here", text.SHAKESPEARE_WORD)
    train_words = words[: round(len(words) * 0.8)]
    assert data.vocabulary[:3] == ("<unk>", "the", "cat") and set(data.vocabulary[1:]) == set(train_words)
    assert "zebra" not in data.vocabulary  # only in the test part: the vocabulary is the training split's
    # The test part is "zebra ends here": one window of 2 words, all unknown.
    assert data.x_heldout.tolist() == [[0, 0]] and data.y_heldout.tolist() == [[0, 0]]
    vocabulary = dict(zip(data.vocabulary, range(len(data.vocabulary))))
    assert data.x_test.tolist() == [[vocabulary["the"], 0]] and data.y_test.tolist() == [[0, 0]]  # "the mat zebra"
    assert data.x_train.shape[1] == 2 and (data.x_train[:, 1] == data.y_train[:, 0]).all()
    assert data.files["input.txt"]["copy"] == "unknown copy"


def _known_model(table):
    """A next-word model whose distribution after word i is row i of `table`."""
    inputs = keras.Input(shape=(None,), dtype="int32")
    logits = keras.layers.Embedding(len(table), len(table), weights=[np.log(table)])(inputs)
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def test_perplexity_of_a_model_with_known_probabilities():
    table = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32)
    model = _known_model(table)
    inputs, targets = np.array([[0, 1, 2], [1, 1, 0]]), np.array([[1, 1, 2], [0, 1, 0]])
    expected = math.exp(-np.mean(np.log([0.25, 0.8, 0.6, 0.1, 0.8, 0.5])))
    for batch_size in (1, 256):
        scores = language.next_word_scores(model, inputs, targets, batch_size=batch_size)
        assert scores["perplexity"] == pytest.approx(expected, rel=1e-5)
        assert scores["predictions"].tolist() == [[0, 1, 2], [1, 1, 0]]
        assert scores["accuracy"] == pytest.approx(4 / 6) and scores["words"] == 6
    assert language.perplexity(np.full((4, 7), 1 / 7), np.arange(4)) == pytest.approx(7.0)  # uniform: the vocabulary size
    assert language.unigram_perplexity([1, 1, 2], [1, 2], 3) == pytest.approx(math.exp(-np.mean(np.log([3 / 6, 2 / 6]))))


def test_generation_samples_the_model_and_respects_the_seed():
    table = np.array([[0.0001, 0.9998, 0.0001], [0.0001, 0.0001, 0.9998], [0.9998, 0.0001, 0.0001]], dtype=np.float32)
    model = _known_model(table)
    vocabulary = ("<unk>", "to", "be")
    assert language.generate(model, vocabulary, "To thee", num_words=4, temperature=0.5) == "to <unk> to be <unk> to"
    varied = language.generate(model, vocabulary, "to", num_words=30, temperature=50.0, seed=1)
    assert varied == language.generate(model, vocabulary, "to", num_words=30, temperature=50.0, seed=1)
    assert varied != "to " + " ".join(["be", "<unk>", "to"] * 10)  # a flat temperature leaves the cycle
    with pytest.raises(ValueError, match=r"Invalid value for `temperature`. Received: temperature=0"):
        language.generate(model, vocabulary, "to", temperature=0)


def test_classification_scores_per_class_and_macro():
    counts = evaluate.confusion_matrix([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1], 3)
    assert counts.tolist() == [[2, 1, 0], [0, 2, 0], [0, 1, 0]]
    scores = evaluate.classification_scores(counts, ["a", "b", "c"])
    assert scores["precision"].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.5])
    assert scores["recall"].tolist() == pytest.approx([2 / 3, 1.0, 0.0, 5 / 9])
    assert scores.loc["a", "f1"] == pytest.approx(0.8) and scores.loc["macro average", "support"] == 6
    assert evaluate.accuracy(counts) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match=r"y_pred has labels outside \[0, 3\): min 0, max 3"):
        evaluate.confusion_matrix([0, 1], [0, 3], 3)


def test_a_larger_search_continues_the_finished_one(session, capsys):
    study_e.cnn_tuner(session, seed=1, trials=1).search()
    [first] = (session.data_dir.parent / "history_dir" / "e").glob("*.json")
    written = first.stat().st_mtime_ns
    tuner = study_e.cnn_tuner(session, seed=1, trials=2)
    tuner.search()
    assert "Reloading Tuner" in capsys.readouterr().out
    table = tuner.trial_table()
    assert list(table.sort_index()["run"])[0] == first.stem and len(table) == 2
    assert first.stat().st_mtime_ns == written  # trial 0 was not trained again
    assert tuner.best_run().history_path.stem in set(table["run"])


@pytest.mark.parametrize("ray_address", [None, "local"], ids=["worker processes", "ray tasks"])
def test_search_of_two_trials_in_a_pool(session, monkeypatch, tmp_path, ray_address):
    if ray_address:
        monkeypatch.setenv("RAY_ADDRESS", ray_address)
    else:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    tuner = study_e.cnn_tuner(session, seed=5, trials=2)
    tuner.search(jobs=2)
    table = tuner.trial_table()
    assert sorted(table.index) == ["0", "1"] and set(table["status"]) == {"complete"}
    histories = {path.stem for path in (session.data_dir.parent / "history_dir" / "e").glob("*.json")}
    assert histories == set(table["run"])  # the workers wrote into our cache
    assert all((session.data_dir.parent / "checkpoint_dir" / "e" / key / "final.weights.h5").is_file() for key in histories)
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path / "sampler"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    planned = _sample(study_e.cnn_tuner(session, seed=5, trials=2), 2)
    assert [tuner.oracle.trials[i].hyperparameters.values for i in ("0", "1")] == planned  # same sequence as a local search


def test_study_e_notebooks_smoke_reports(outputs, capsys):
    data_dir = os.environ.get("DATA_DIR", "")
    notebooks = ["e_q1_cnn_search", "e_q2_word_lm_search"]
    argv = ["--reports-dir", str(outputs / "reports"), "--quiet", "--profile", "smoke", "--data-dir", data_dir, "--only", *notebooks]
    assert execute.main(argv) == 0, capsys.readouterr()
    histories = [json.loads(path.read_text()) for path in (outputs / "history_dir" / "e").glob("*.json")]
    assert sorted(h["config"]["model"] for h in histories) == ["search_cnn"] * 3 + ["word_lm"] * 3
    for question, metrics in (("e_q1", ("test_accuracy", "validation_accuracy_best")), ("e_q2", ("test_perplexity", "test_next_word_accuracy"))):
        saved = json.loads((outputs / "history_dir" / "results" / "smoke" / f"{question}.json").read_text())
        assert saved["status"] == "ran" and len(saved["histories"]) == 3
        assert all(math.isfinite(saved["ours"][metric]) for metric in metrics), saved
    for name in ["e_q1/hyperparameter_effects.png", "e_q1/confusion_matrix.png", "e_q2/hyperparameter_effects.png", "e_q2/confusion_matrix.png"]:
        assert (outputs / "figure_dir" / name).stat().st_size > 1000, name
    q2 = (outputs / "reports" / "e_q2_word_lm_search.html").read_text()
    assert "Prompt <em>to be or not to be</em>, temperature 0.8" in q2 and "675" in q2
