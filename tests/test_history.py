import json

import pytest

from lib import files
from lib.core import history


def _history(test_accuracy):
    n = len(test_accuracy)
    metrics = {"test_accuracy": test_accuracy, "test_loss": [2.0 - a for a in test_accuracy], "accuracy": test_accuracy, "loss": [1.0] * n}
    return {
        "config": {}, "status": "complete", "provenance": {}, "wall_time_s": 12.5,
        "epoch": list(range(1, n + 1)), "epoch_time_s": [1.0] * n,
        "metrics": metrics, "final": {name: values[-1] for name, values in metrics.items()},
    }


def test_round_trip_is_exact(tmp_path):
    original = _history([0.1, 0.25, 1 / 3])
    files.write_json(tmp_path / "a" / "run.json", original)
    assert history.read_history(tmp_path / "a" / "run.json") == original
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["run.json"]  # no temporary left behind


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    files.write_json(path, _history([0.5]))

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", disk_full)
    with pytest.raises(OSError, match="No space left"):
        files.write_json(path, _history([0.9]))
    assert history.read_history(path)["metrics"]["test_accuracy"] == [0.5]
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"config": {', r"is not valid JSON"),
        ("[1, 2]", r"holds a list, expected a JSON object"),
        ('{"config": {}}', r"lacks the fields \['metrics', 'epoch'"),
    ],
)
def test_broken_files_are_reported_with_their_path(tmp_path, text, message):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"History file {path}.*" if "JSON object" not in message else message):
        history.read_history(path)
    with pytest.raises(ValueError, match=message):
        history.read_history(path)


def test_late_mean_uses_the_last_fifth():
    values = list(range(1, 11))  # the last 20% of ten epochs are 9 and 10
    assert history.late_mean(values) == 9.5
    assert history.late_mean([0.3]) == 0.3
    assert history.late_mean([1, 2, 3, 4, 5, 6], fraction=0.5) == 5.0  # ceil(3) values
    with pytest.raises(ValueError, match=r"Received: fraction=0"):
        history.late_mean(values, fraction=0)


def test_summarize_and_metric_at():
    h = _history([0.2, 0.6, 0.5, 0.4, 0.45])
    summary = history.summarize(h)
    assert summary["test_accuracy_final"] == 0.45
    assert summary["test_accuracy_late_mean"] == 0.45
    assert (summary["test_accuracy_best"], summary["best_epoch"]) == (0.6, 2)
    assert summary["epochs"] == 5 and summary["wall_time_s"] == 12.5
    assert history.metric_at(h, "test_accuracy", 3) == 0.5
    assert history.metric_at(h, "test_accuracy", 50) is None
