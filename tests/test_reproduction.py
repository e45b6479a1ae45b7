"""The reproduction check: published curves and numbers with their sources, and verdicts at matched epochs."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import session_for
from lib.studies import curves, published, reproduction, results

SHARED = Path(__file__).resolve().parents[2] / "shared" / "published" / "cz4042-tanchuanxin"


def _history(accuracy, loss=None):
    loss = loss if loss is not None else [2.0 - a for a in accuracy]
    return {"epoch": list(range(1, len(accuracy) + 1)), "metrics": {"test_accuracy": list(accuracy), "test_loss": list(loss)}}


def test_published_curves_load_name_their_source_and_have_one_value_per_epoch():
    names = curves.names()
    assert len(names) == 46 and sum(name.startswith("2a/") for name in names) == 30
    for name in names:
        curve = curves.curve(name)
        assert {len(values) for values in curve.metrics.values()} == {curve.epochs}, name
        assert all(np.isfinite(curve.metrics["test_accuracy"])), name
        assert curve.source.startswith("https://github.com/tanchuanxin/cz4042_assignment_2/blob/9e47938991e420f958ffa32e0fad665f5cd358bd/")
    assert curves.curve("2a/q1_model_50_60").epochs == 1000 and curves.curve("2b/q3_char_rnn_gru").epochs == 100
    assert curves.curve("2b/q2_word_cnn").wall_time_s == pytest.approx(159.3)
    with pytest.raises(ValueError, match=r"Unknown published run: '2a/q9'. Expected one of \("):
        curves.curve("2a/q9")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the author's published history files are not at {SHARED}")
def test_the_compact_copy_holds_the_published_files_unchanged(tmp_path):
    target = tmp_path / "copy.json.gz"
    curves.main([str(SHARED), str(target)])
    assert target.read_bytes() == (Path(curves.__file__).with_name("published_curves.json.gz")).read_bytes()
    for path in SHARED.glob("*.json"):
        run = json.loads(path.read_text())
        assert curves.curve(f"{path.name[:2]}/{run['run']}").metrics["test_loss"] == tuple(run["test_loss"])


def test_every_published_row_has_a_source_and_a_label():
    table = published.table()
    assert table["source"].str.len().min() > 20 and table["label"].str.len().min() > 5
    assert not table.duplicated(["question", "metric"]).any()
    assert set(table["epochs"].dropna()) <= {4, 5, 10, 30, 50, 100, 250, 1000}


def test_published_numbers_cited_from_a_history_equal_that_history():
    # "...@9e47938 2a/histories/q1_model_50_60: epoch 1000" or "...: epochs 801-1000" (a mean).
    cited = published.table()[published.table()["source"].str.startswith("tanchuanxin/")]
    assert len(cited) >= 40
    for _, row in cited.iterrows():
        location, _, what = row["source"].partition(" ")[2].partition(": ")
        folder, _, run = location.split("/")
        curve = curves.curve(f"{folder}/{run}")
        if what == "wall_time_s":
            expected = curve.wall_time_s
        else:
            first, _, last = what.split(" ")[1].partition("-")
            expected = np.mean(curve.metrics["test_accuracy"][int(first) - 1:int(last or first)])
        assert row["value"] == pytest.approx(expected, abs=6e-5), (row["question"], row["metric"])


def test_curve_checks_compare_window_means_at_matched_epochs():
    theirs = curves.curve("2b/q3_char_rnn_gru")
    ours = np.array(theirs.metrics["test_accuracy"][:20]) + 0.01  # within ±0.03 at every epoch
    ours[9] += 0.2  # one noisy epoch moves epoch 10's window mean by 0.04: not reproduced there
    rows = reproduction.curve_checks("b_q3", "2b/q3_char_rnn_gru", "char GRU", [_history(ours)])
    accuracy = {row["epoch"]: row for row in rows if row["metric"].endswith(("test_accuracy@10", "test_accuracy@20", "test_accuracy@100"))}
    assert sorted(accuracy) == [10, 20, 100]  # checkpoints up to our last epoch, and the final we have not reached
    assert accuracy[10]["published"] == pytest.approx(np.mean(theirs.metrics["test_accuracy"][7:12]))
    assert accuracy[10]["ours"] == pytest.approx(np.mean(ours[7:12]))
    assert accuracy[10]["verdict"] == "not reproduced" and accuracy[20]["verdict"] == "reproduced"
    assert accuracy[20]["published"] == pytest.approx(np.mean(theirs.metrics["test_accuracy"][17:20]))  # window cut at our last epoch
    assert accuracy[100]["verdict"] == "not comparable yet" and accuracy[100]["reason"] == "20 of 100 epochs"
    assert accuracy[100]["source"].endswith("2b/histories/q3_char_rnn_gru: epoch 100")


def test_several_seeds_widen_the_tolerance_to_their_spread():
    theirs = curves.curve("2a/q2_model_90_40")
    base = np.array(theirs.metrics["test_accuracy"][:10])
    one = reproduction.curve_checks("a_q2", "2a/q2_model_90_40", "90/40", [_history(base + 0.05)])
    spread = reproduction.curve_checks("a_q2", "2a/q2_model_90_40", "90/40", [_history(base), _history(base + 0.1)])
    accuracy = lambda rows: next(row for row in rows if row["metric"].endswith("test_accuracy@10"))
    assert accuracy(one)["verdict"] == "not reproduced" and accuracy(one)["tolerance"] == "±0.03"
    assert accuracy(spread)["ours"] == pytest.approx(np.mean(base[7:10]) + 0.05)
    assert accuracy(spread)["verdict"] == "reproduced" and "2 sd of our seeds" in accuracy(spread)["tolerance"]


@pytest.mark.parametrize(
    "question, metric, value, ours, expected",
    [
        ("a_q1", "test_accuracy_final", 0.5475, 0.518, "reproduced"),
        ("a_q1", "test_accuracy_final", 0.5475, 0.517, "not reproduced"),
        ("a_q1", "test_loss@10", 2.0, 2.19, "reproduced"),  # ±10% of a loss
        ("a_q1", "test_loss@10", 2.0, 2.21, "not reproduced"),
        ("z_q1", "perplexity", 100.0, 109.0, "reproduced"),  # the ±10% default row
        ("z_q1", "perplexity", 100.0, 111.0, "not reproduced"),
        ("b_q1", "wall_time_s", 144.4, 2.0, "shown, not checked"),
    ],
)
def test_verdicts_follow_the_tolerance_rules(question, metric, value, ours, expected):
    assert reproduction._row(question, metric, metric, value, ours, 0.0, None, "a source")["verdict"] == expected


def test_value_checks_wait_for_the_published_epochs_and_data():
    ours = {"test_accuracy_final": 0.55, "test_accuracy_late_mean": 0.50, "test_accuracy_epoch_50": 0.30}
    rows = {row["metric"]: row for row in reproduction.value_checks("a_q1", ours, epochs=50)}
    assert rows["test_accuracy_final"]["verdict"] == "not comparable yet" and rows["test_accuracy_final"]["reason"] == "50 of 1000 epochs"
    assert rows["test_accuracy_epoch_50"]["verdict"] == "reproduced"
    assert rows["test_accuracy_epoch_100"]["reason"] == "not measured under this profile"
    full = {row["metric"]: row for row in reproduction.value_checks("a_q1", ours, epochs=1000)}
    assert full["test_accuracy_final"]["verdict"] == "reproduced" and full["test_accuracy_late_mean"]["verdict"] == "not reproduced"
    short = reproduction.value_checks("d_d3", {"test_accuracy_min": 0.972}, epochs=5, shortfall="9,997 of 60,000 MNIST training digits")
    assert short[0]["verdict"] == "not comparable yet" and short[0]["reason"].startswith("9,997 of 60,000")
    timed = {row["metric"]: row for row in reproduction.value_checks("b_q1", {"wall_time_s": 10.0}, epochs=250)}
    assert timed["wall_time_s"]["verdict"] == "shown, not checked"
    assert reproduction.counts(rows.values()) == {"reproduced": 1, "not reproduced": 0, "not comparable yet": 3, "shown, not checked": 0}


def test_describe_counts_and_names_what_does_not_reproduce():
    rows = reproduction.value_checks("a_q1", {"test_accuracy_final": 0.40, "test_accuracy_late_mean": 0.546,
                                              "test_accuracy_epoch_50": 0.31}, epochs=1000)
    text = reproduction.describe(rows)
    assert text.startswith("Of 4 published numbers, 3 can be compared under this profile: 2 reproduce within tolerance and 1 do not.")
    assert "Q1 (50/60, SGD): test accuracy, final epoch (ours 0.4, published 0.5475)" in text
    assert "1 cannot be compared yet: not measured under this profile." in text
    assert "Likely reasons: the data." in reproduction.describe(rows, "the data.") and "Likely" not in text
    reproduced = [row for row in rows if row["verdict"] != "not reproduced"]
    assert "Likely" not in reproduction.describe(reproduced, "the data.")  # said only where something does not reproduce


def test_record_checks_curves_without_repeating_the_final_that_published_csv_lists(outputs):
    class Run:
        history_path = "h.json"
        history = _history(curves.curve("2b/q2_word_cnn").metrics["test_accuracy"], curves.curve("2b/q2_word_cnn").metrics["test_loss"])

    session = session_for("quick")
    table = results.record(session, "b_q2", {"test_accuracy_final": Run.history["metrics"]["test_accuracy"][-1]}, [Run],
                           curves={"2b/q2_word_cnn": ("word CNN", [Run])})
    rows = table.attrs["checks"]
    assert [row["epoch"] for row in rows if row["epoch"]] == [10, 10, 50, 50, 100, 100, 250, 250]
    assert all(row["verdict"] in ("reproduced", "shown, not checked") for row in rows)
    assert table.loc["word CNN: test accuracy, final epoch", "check"] == "reproduced"
    assert isinstance(table, pd.DataFrame) and list(table.columns) == ["published", "ours", "difference", "tolerance", "check"]
