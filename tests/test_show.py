"""lib/core/show.py: what notebooks display instead of raw reprs and box-drawn text."""

import re

import numpy as np
import pandas as pd
import pytest

from lib.core import models, show  # models first: it imports Keras quietly, before keras_tuner would
from lib.core.config import RunConfig

keras_tuner = pytest.importorskip("keras_tuner")


def cells(html):
    """The text of every th and td of an HTML table, in order."""
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html, re.S)]


@pytest.mark.parametrize("value, expected", [
    (0.071429, "0.07143"), (0.5475, "0.5475"), (1.486852, "1.487"), (-748.513148, "-748.5"), (750.0, "750"),
    (54774, "54,774"), (np.int64(12), "12"), (12345.6, "12,346"), (float("nan"), "–"), ("±0.03", "±0.03"), (True, "True"),
])
def test_number_keeps_four_significant_digits(value, expected):
    assert show.number(value) == expected


@pytest.mark.parametrize("key, expected", [
    ("char_rnn_gru_clipvalue_2_test_accuracy_final", "char GRU clipping at value 2: test accuracy (final)"),
    ("test_accuracy_late_mean", "test accuracy (late mean)"),
    ("hidden_128_test_accuracy_epoch_4", "hidden 128: test accuracy (epoch 4)"),
    ("adam_lr_1e-3_test_accuracy", "Adam lr 1e-3: test accuracy"),
    ("char_rnn_simple_rnn_test_accuracy_final", "char vanilla RNN: test accuracy (final)"),
    ("wall_time_s", "wall time (s)"),
    ("test_next_word_accuracy", "test next-word accuracy"),
    ("conv1_pre_relu_max", "conv1 before ReLU max"),  # no measure in it: its words
    ("Q1 (50/60, SGD): test accuracy, final epoch", "Q1 (50/60, SGD): test accuracy, final epoch"),  # prose already
    (3, 3),
])
def test_metric_label_words_a_code_key(key, expected):
    assert show.metric_label(key) == expected


def test_table_rounds_numbers_words_labels_and_keeps_long_text():
    note = "read off the published curve, which other reports of the same course also plotted (approximate)"
    frame = pd.DataFrame({"published": [0.5475, 750.0], "ours": [0.071429, np.nan], "wall_time_s": [1.486852, 2.0],
                          "note": [note, "<script>alert(1)</script>"]},
                         index=pd.Index(["test_accuracy_final", "wall_time_s"], name="metric"))
    html = show.table(frame).to_html()
    found = cells(html)
    assert ["published", "ours", "wall time (s)", "note"] == found[1:5]
    assert "test accuracy (final)" in found and "0.07143" in found and "1.487" in found and "750" in found and "–" in found
    assert note in found  # pandas' own display cuts it to 50 characters
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert list(frame.columns) == ["published", "ours", "wall_time_s", "note"]  # the frame itself is unchanged


def test_config_is_a_table_of_settings_not_a_repr():
    config = RunConfig(study="a", model="cifar_cnn", data="cifar10", epochs=3, model_kwargs={"c1": 5, "c2": 6}, lr=0.01)
    html = show.config(config)._repr_html_()
    found = cells(html)
    assert "RunConfig(" not in html
    assert found[found.index("learning rate") + 1] == "0.01"
    assert found[found.index("model settings") + 1] == "c1 5, c2 6"
    assert found[found.index("epochs") + 1] == "3"
    assert "session" not in found  # left out of the repr, left out here


def test_search_space_lists_each_hyperparameter_and_counts_the_combinations():
    space = keras_tuner.HyperParameters()
    space.Choice("filters", [16, 32, 64])
    space.Choice("lr", [1e-4, 1e-3])
    html = show.search_space(space)._repr_html_()
    assert "Search space: 2 hyperparameters, 6 combinations" in html
    found = cells(html)
    assert found[found.index("filters"):found.index("filters") + 4] == ["filters", "Choice", "16, 32, 64", "16"]
    space.Int("units", 8, 64, step=8)
    found = cells(show.search_space(space)._repr_html_())
    assert found[found.index("units"):found.index("units") + 4] == ["units", "Int", "8 to 64, step 8 (linear sampling)", "–"]


def test_model_summary_is_an_html_table_of_layers():
    html = show.model_summary(models.build_cifar_cnn())._repr_html_()
    assert "\x1b[" not in html and "┃" not in html  # no ANSI colours, no box drawing
    found = cells(html)
    assert found[found.index("C1"):found.index("C1") + 4] == ["C1", "Conv2D", "24 × 24 × 50", "12,200"]
    assert found[-4:] == ["total", "", "", "378,570"]  # as the factory's docstring says
    assert "Model cifar_cnn_50_60: 8 layers, 378,570 parameters" in html


def test_model_summary_of_a_config_builds_its_model():
    config = RunConfig(study="a", model="cifar_cnn", data="cifar10", epochs=1, model_kwargs={"c1": 5, "c2": 6})
    found = cells(show.model_summary(config)._repr_html_())
    assert found[found.index("C2"):found.index("C2") + 3] == ["C2", "Conv2D", "8 × 8 × 6"]
