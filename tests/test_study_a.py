import numpy as np
import pytest

from conftest import session_for
from lib.core import history, runs
from lib.core.config import RunConfig
from lib.studies import a as study_a


def _history(test_accuracy, test_loss=None, wall_time_s=10.0):
    n = len(test_accuracy)
    return {
        "config": {}, "status": "complete", "provenance": {}, "final": {}, "wall_time_s": wall_time_s,
        "epoch": list(range(1, n + 1)), "epoch_time_s": [1.0] * n,
        "metrics": {"test_accuracy": list(test_accuracy), "accuracy": list(test_accuracy),
                    "test_loss": list(test_loss or [1.0] * n), "loss": [1.0] * n},
    }


def test_grid_has_25_cells_and_shares_q1s_run():
    grid = study_a.grid_configs(session_for("full"), seeds=[0, 1])
    assert sorted(grid) == [(c1, c2) for c1 in (10, 30, 50, 70, 90) for c2 in (20, 40, 60, 80, 100)]
    assert all(len(configs) == 2 for configs in grid.values())
    q1 = study_a.config(session_for("full"), seed=1)
    assert grid[(50, 60)][1] == q1  # equal configs, so one cached run serves both
    assert grid[(90, 100)][0].model_kwargs == {"c1": 90, "c2": 100}


def test_variants_are_the_four_trainings():
    variants = study_a.variant_configs(session_for("smoke"), 70, 40, seeds=[0])
    settings = {name: (c.optimizer, c.momentum, c.model_kwargs, c.lr) for name, [c] in variants.items()}
    assert settings == {
        "momentum": ("sgd", 0.1, {"c1": 70, "c2": 40}, 0.001),
        "rmsprop": ("rmsprop", 0.0, {"c1": 70, "c2": 40}, 0.001),
        "adam": ("adam", 0.0, {"c1": 70, "c2": 40}, 0.001),
        "dropout": ("sgd", 0.0, {"c1": 70, "c2": 40, "dropout": 0.5}, 0.001),
    }


def test_seed_lists_follow_the_profile():
    assert study_a.seed_list(session_for("full")) == [0, 1, 2]
    assert study_a.seed_list(session_for("quick"), seed=5) == [5]
    assert study_a.seed_list(session_for("quick"), seed=2, seeds=2) == [2, 3]


def test_seed_summary_and_mean_curve():
    histories = [_history([0.1, 0.5], wall_time_s=4), _history([0.3, 0.7], wall_time_s=6)]
    summary = history.seed_summary(histories)
    assert summary["test_accuracy_final"]["mean"] == pytest.approx(0.6)
    assert summary["test_accuracy_final"]["std"] == pytest.approx(np.sqrt(0.02))  # sample std of 0.5, 0.7
    assert summary["wall_time_s"] == {"mean": 5.0, "std": pytest.approx(np.sqrt(2)), "n": 2}
    epochs, mean, std = history.mean_curve(histories, "test_accuracy")
    assert epochs.tolist() == [1, 2] and mean.tolist() == pytest.approx([0.2, 0.6])
    assert std.tolist() == pytest.approx([np.sqrt(0.02)] * 2)
    assert history.seed_summary([histories[0]])["test_accuracy_final"]["std"] == 0.0
    table = history.summary_table({"x": summary})
    assert table.loc["x", "test_accuracy_final"] == "0.6000 ± 0.1414" and table.loc["x", "seeds"] == 2


def test_best_pick_uses_the_late_mean_not_the_final_epoch():
    # (10, 20) ends on a lucky spike; (30, 40) is better over the last 20% of epochs.
    spiky = _history([0.5] * 9 + [0.2] * 8 + [0.9])
    steady = _history([0.5] * 9 + [0.6] * 9)
    summaries = {(10, 20): history.seed_summary([spiky]), (30, 40): history.seed_summary([steady])}
    assert history.pick_best(summaries, "test_accuracy_final") == (10, 20)
    assert history.pick_best(summaries, "test_accuracy_late_mean") == (30, 40)


def test_grid_table_has_margins():
    summaries = {(c1, c2): {"f": {"mean": c1 / 100 + c2 / 1000, "std": 0, "n": 1}}
                 for c1 in study_a.C1_CHANNELS for c2 in study_a.C2_CHANNELS}
    table = study_a.grid_table(summaries, "f")
    assert table.shape == (6, 6)
    assert table.loc[70, 40] == pytest.approx(0.74)
    assert table.loc[70, "mean"] == pytest.approx(0.76)
    assert table.loc["mean", 40] == pytest.approx(0.54)


def test_discussion_names_early_and_late_winners_and_overfitting():
    fast = _history([0.5] * 2 + [0.45] * 18, test_loss=[1.0, 0.5] + [0.5 + 0.05 * i for i in range(1, 19)])
    slow = _history([0.1 * min(i, 6) for i in range(1, 21)], test_loss=[2.0 - 0.05 * i for i in range(20)])
    text = study_a.discussion({"adam": [fast], "sgd": [slow]})
    assert "Early (epoch 2), the best test accuracy is 0.5000, by adam" in text
    assert "late (mean over the last 20% of epochs) it is 0.6000, by sgd" in text
    assert "adam: the test loss is lowest at epoch 2 (0.500) and rises to 1.400 by epoch 20" in text
    assert "sgd: the test loss is still at or near its lowest at epoch 20" in text


def test_best_channels_round_trip_and_missing(outputs):
    with pytest.raises(FileNotFoundError, match=r"No Q2 result at .*q2_best_quick.json: run the grid first"):
        study_a.read_best_channels("quick")
    study_a.write_best_channels("quick", {"c1": 70, "c2": 40})
    assert study_a.read_best_channels("quick") == {"c1": 70, "c2": 40}


def test_concurrent_runs_match_sequential_runs(session, monkeypatch, tmp_path):
    configs = [RunConfig(session=session, study="a", model="cifar_cnn", data="cifar10", epochs=2, model_kwargs={"c1": 4, "c2": c2},
                         data_kwargs={"train_per_class": 3, "test_per_class": 2}, batch_size=8) for c2 in (5, 6)]
    sequential = runs.fit_many(configs, jobs=1, progress=False)
    monkeypatch.setenv("HISTORY_DIR", str(tmp_path / "concurrent"))
    concurrent = runs.fit_many(configs, jobs=2, progress=False)
    for one, other in zip(sequential, concurrent):
        assert other.history_path.parent.parent == tmp_path / "concurrent"
        assert other.history["config"] == one.history["config"]
        assert other.history["provenance"]["threads"] == one.history["provenance"]["threads"]
        assert other.history["metrics"] == one.history["metrics"]  # bit for bit


def test_q3_trains_the_published_pair_unless_asked_for_ours(outputs):
    assert study_a.q3_channels("quick") == (90, 40) == study_a.PUBLISHED_PAIR
    study_a.write_best_channels("quick", {"c1": 70, "c2": 60})
    assert study_a.q3_channels("quick", "ours") == (70, 60)
    with pytest.raises(ValueError, match=r"Invalid value for `pair`. Received: pair='best'. Expected 'published' or 'ours'."):
        study_a.q3_channels("quick", "best")
    models = study_a.all_models(session_for("quick"), [0])
    assert models["Q3 adam"][0].model_kwargs == {"c1": 90, "c2": 40} and "Q2 best 70/60" in models

