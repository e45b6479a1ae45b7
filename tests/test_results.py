"""Headline numbers saved for the report index."""

import json

import pytest

from lib.studies import results


def test_record_saves_numbers_and_checks_and_returns_the_comparison(session, outputs):
    comparison = results.record(session, "a_q1", {"test_accuracy_final": 0.5, "test_accuracy_epoch_100": None}, epochs=1000)
    final = "Q1 (50/60, SGD): test accuracy, final epoch"
    assert comparison.loc[final, "difference"] == pytest.approx(0.5 - 0.5475)
    assert comparison.loc[final, "check"].startswith("not comparable yet: smoke profile")
    assert comparison.loc["Q1 (50/60, SGD): test accuracy, epoch 100", "check"] == "not comparable yet: not measured under this profile"
    saved = json.loads((outputs / "history_dir" / "results" / "smoke" / "a_q1.json").read_text())
    assert saved["status"] == "ran" and saved["profile"] == "smoke"
    assert saved["ours"] == {"test_accuracy_final": 0.5, "test_accuracy_epoch_100": None}
    assert [check["metric"] for check in saved["checks"]] == ["test_accuracy_final", "test_accuracy_late_mean",
                                                              "test_accuracy_epoch_50", "test_accuracy_epoch_100"]


def test_skip_saves_the_reason(session, outputs):
    results.skip(session, "a_full_data", "batches 2-5 missing")
    saved = json.loads(results.results_path("a_full_data", "smoke").read_text())
    assert saved["status"] == "skipped" and saved["reason"] == "batches 2-5 missing"


def test_unknown_question_is_refused_before_anything_is_written(session, outputs):
    with pytest.raises(ValueError, match=r"Unknown question: 'z_q1'. Expected one of \("):
        results.record(session, "z_q1", {"test_accuracy_final": 0.5})
    assert not (outputs / "history_dir" / "results").exists()
