"""Studies C and D: data sources, factories, activation statistics, run grids and tables."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from conftest import session_for
from lib import files
from lib.core import models
from lib.core.data import images
from lib.studies import c as study_c
from lib.studies import d as study_d


def _write_mnist(path, train_labels, test_labels):
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=rng.integers(0, 256, (len(train_labels), 28, 28), dtype=np.uint8), y_train=np.array(train_labels, np.uint8),
             x_test=rng.integers(0, 256, (len(test_labels), 28, 28), dtype=np.uint8), y_test=np.array(test_labels, np.uint8))
    return path


def test_load_mnist_scales_subsets_and_records_the_file(tmp_path):
    path = _write_mnist(tmp_path / "mnist" / "mnist.npz", [3, 1, 3, 3, 1], [0, 0, 2])
    data = images.load_mnist(data_dir=str(tmp_path), train_per_class=2)
    raw = np.load(path)
    assert data.x_train.shape == (4, 28, 28, 1) and data.x_train.dtype == np.float32
    assert data.y_train.tolist() == [3, 1, 3, 1] and data.y_train.dtype == np.int64
    np.testing.assert_allclose(data.x_train[1, :, :, 0], raw["x_train"][1] / 255.0, rtol=1e-6)
    assert data.x_test.shape == (3, 28, 28, 1) and data.class_names[9] == "9"
    assert data.files["mnist.npz"]["sha256"] == files.sha256(path)
    assert data.files["mnist.npz"]["copy"] == "user-provided"


def test_missing_mnist_and_failed_download_name_path_and_remedy(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MNIST_URL", "http://127.0.0.1:9/mnist.npz")  # refused at once, offline
    with pytest.raises(FileNotFoundError) as raised:
        images.load_mnist(data_dir=str(tmp_path))
    message = str(raised.value)
    assert f"MNIST file mnist.npz not found at {tmp_path / 'mnist' / 'mnist.npz'}" in message
    assert "downloading http://127.0.0.1:9/mnist.npz failed" in message
    assert images.MNIST_SHA256 in message and "DATA_DIR" in message


def test_grayscale_28_keeps_cifar10_as_it_was(tiny_cifar):
    gray = images.load_cifar10_gray(data_dir=str(tiny_cifar), test_per_class=3)
    color = images.load_cifar10(data_dir=str(tiny_cifar), test_per_class=3)
    assert color.x_train.shape == (60, 32, 32, 3)  # Study A's source is unchanged
    assert gray.x_train.shape == (60, 28, 28, 1) and gray.x_test.shape == (30, 28, 28, 1)
    assert gray.y_test.tolist() == color.y_test.tolist()
    flat = np.ones((1, 32, 32, 3), np.float32) * np.array([1.0, 0.5, 0.0], np.float32)
    np.testing.assert_allclose(images.to_grayscale_28(flat), 0.299 + 0.5 * 0.587, rtol=1e-5)


def test_factories_have_the_expected_sizes():
    assert models.build_image_cnn().count_params() == 832 + 51_264 + 3_212_288 + 10_250
    # SimpleRNN 64: 28*64 inputs + 64*64 recurrent + 64 biases; softmax 64*10 + 10.
    assert models.build_sequence_rnn("simple_rnn", units=64).count_params() == 28 * 64 + 64 * 64 + 64 + 650
    lstm = models.build_sequence_rnn("lstm", units=8, num_layers=2)
    assert [layer.name for layer in lstm.layers] == ["image", "rows", "rnn1", "rnn2", "output"]
    assert lstm.get_layer("rnn1").return_sequences and not lstm.get_layer("rnn2").return_sequences
    with pytest.raises(ValueError, match=r"Unknown cell: 'rnn'. Expected one of \('simple_rnn', 'lstm', 'gru'\)."):
        models.build_sequence_rnn("rnn")
    with pytest.raises(ValueError, match=r"Invalid value for `num_layers`. Received: num_layers=0. Expected a positive integer."):
        models.build_sequence_rnn(num_layers=0)


def test_activation_statistics_of_known_weights():
    inputs = keras.Input((2, 2, 1))
    outputs = keras.layers.Conv2D(2, 1, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2), np.array([0.0, 0.5], np.float32)])
    images = np.array([[0.0, 0.25], [0.75, 1.0], [0.5, 0.5], [0.1, 0.9]], np.float32).reshape(2, 2, 2, 1)
    # Channel 0 is x, channel 1 is relu(0.5 - x).
    values = np.concatenate([images.ravel(), np.maximum(0.5 - images.ravel(), 0)])
    for batch_size in (1, 256):  # accumulating over batches changes nothing
        stats = models.activation_statistics(model, images, ["conv"], batch_size=batch_size)
        assert stats.loc["conv"].tolist() == pytest.approx([values.mean(), values.std(), 1.0, 0.0])
    # Before the ReLU (as Study C's write-up): channel 1 is 0.5 - x, negative values kept.
    before = np.concatenate([images.ravel(), 0.5 - images.ravel()])
    stats = models.activation_statistics(model, images, ["conv"], batch_size=3, before_activation=True)
    assert stats.loc["conv"].tolist() == pytest.approx([before.mean(), before.std(), 1.0, -0.5])
    with pytest.raises(ValueError, match=r"`before_activation` needs convolution layers. Received: layer 'conv_input'"):
        dense = keras.Model(inputs, keras.layers.Dense(1, name="conv_input")(keras.layers.Flatten()(inputs)))
        models.activation_statistics(dense, images, ["conv_input"], before_activation=True)


def test_image_cnn_starter_initialisation():
    keras.utils.set_random_seed(0)
    starter = models.build_image_cnn(initializer="starter")
    for name in ("conv1", "conv2", "fc1", "output"):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in starter.get_layer(name).weights)
        assert np.abs(kernel).max() <= 0.2 + 1e-6 and 0.08 < kernel.std() < 0.1  # truncated at 2 sd of 0.1
        assert np.all(bias == pytest.approx(0.1))
    config = study_c.cnn_config(session_for("full"), "sgd_lr_1e-3", initializer="starter")
    assert config.model_kwargs == {"initializer": "starter"} and study_c.cnn_config(session_for("full"), "sgd_lr_1e-3").model_kwargs == {}
    with pytest.raises(ValueError, match=r"Unknown initializer: 'he'. Expected one of \('keras', 'starter'\)."):
        models.build_image_cnn(initializer="he")


def test_study_c_runs():
    variants = study_c.rnn_variant_configs(session_for("full"))
    changes = {name: (c.model_kwargs["units"], c.optimizer, c.lr, c.epochs) for name, c in variants.items()}
    assert changes == {"base": (64, "adam", 1e-3, 10), "lr_1e-2": (64, "adam", 1e-2, 10),
                       "sgd": (64, "sgd", 1e-3, 10), "hidden_128": (128, "adam", 1e-3, 10)}
    grid = study_c.grid_configs(session_for("full"))
    assert len(grid) == 16 and grid[("gru", 2, 128, 1e-2)].model_kwargs == {"cell": "gru", "units": 128, "num_layers": 2}
    assert len(study_c.grid_configs(session_for("smoke"))) == 2  # the smoke profile cuts the grid
    cnn = study_c.comparison_configs(session_for("quick"))["CNN (C1's network)"]
    assert (cnn.data, cnn.epochs, cnn.lr) == ("mnist", 3, 1e-3)
    assert study_c.cnn_config(session_for("full"), "sgd_lr_1e-3").data_kwargs == {"train_per_class": None, "test_per_class": 100}
    with pytest.raises(ValueError, match=r"Unknown training: 'sgd'. Expected one of \('adam_lr_1e-3', "):
        study_c.cnn_config(session_for("full"), "sgd")


def test_study_d_grids_share_runs():
    d1, d2, d3 = study_d.lr_batch_configs(session_for("full")), study_d.units_lr_configs(session_for("full")), study_d.lstm_configs(session_for("full"))
    assert (len(d1), len(d2), len(d3)) == (16, 20, 4)
    # D2 ran at batch 256 (its 128-unit row is D1's batch-256 row): one cached run serves both tables.
    assert all(c.batch_size == 256 for c in d2.values()) and d1[(1e-3, 256)] == d2[(128, 1e-3)]
    assert d3[(200, "rmsprop")].model_kwargs == {"cell": "lstm", "units": 200, "num_layers": 1}
    labelled = study_d.all_configs(session_for("full"))
    assert len(labelled) == 40 and len({json.dumps(c.as_dict(), sort_keys=True) for c in labelled.values()}) == 36


@dataclasses.dataclass
class _Run:
    config: object
    history: dict


def _run(accuracies, status="complete", lr=1e-3):
    n = len(accuracies)
    config = study_d.config(session_for("full"), lr=lr)
    return _Run(config, {"metrics": {"accuracy": accuracies, "test_accuracy": accuracies}, "final": {"test_accuracy": accuracies[-1]},
                         "wall_time_s": 2.0 * n, "status": status, "epoch": list(range(1, n + 1))})


def test_study_d_tables():
    trained = {(1e-3, 32): _run([0.5, 0.6, 0.7, 0.8, 0.9]), (1e-1, 32): _run([0.1, 0.1], "diverged", lr=1e-1),
               (1e-2, 64): _run([0.2] * 5, lr=1e-2)}
    table = study_d.epoch_table(trained, ("lr", "batch"))
    assert table.loc[(1e-3, 32), "train epoch 5 (epoch mean)"] == 0.9 and table.loc[(1e-3, 32), "test accuracy"] == 0.9
    assert np.isnan(table.loc[(1e-1, 32), "train epoch 3 (epoch mean)"]) and table.loc[(1e-1, 32), "status"] == "diverged"
    assert study_d.collapse_median(trained) == pytest.approx(0.15)
    assert study_d.best_run(trained)[0] == (1e-3, 32)


def test_confusion_matrix_and_pairs():
    labels = np.array([3, 3, 5, 5, 5, 8, 8, 1])
    predictions = np.array([5, 3, 3, 3, 5, 3, 8, 1])
    matrix = study_d.confusion_matrix(labels, predictions)
    assert matrix.loc[5, 3] == 2 and matrix.loc[3, 5] == 1 and matrix.to_numpy().sum() == 8
    pairs = study_d.confused_pairs(matrix, top=2)
    assert pairs[["pair", "a→b", "b→a", "total"]].values.tolist() == [["3-5", 1, 2, 3], ["3-8", 0, 1, 1]]
