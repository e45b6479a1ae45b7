"""Every Study C and D notebook runs through the runner with the smoke profile."""

import json
import os

from lib.runner import execute

NOTEBOOKS = ["c_c1_cifar_cnn", "c_c2_filters", "c_c3_mnist_rnn", "c_c4_lstm_gru",
             "d_d1_lr_batch", "d_d2_hidden_units", "d_d3_lstm", "d_d4_adversarial"]


def test_studies_c_and_d_smoke_reports(outputs, capsys):
    argv = ["--reports-dir", str(outputs / "reports"), "--quiet", "--profile", "smoke",
            "--data-dir", os.environ.get("DATA_DIR", ""), "--only", *NOTEBOOKS]
    assert execute.main(argv) == 0, capsys.readouterr().out
    for name in NOTEBOOKS:
        assert (outputs / "reports" / f"{name}.html").stat().st_size > 20_000, name

    histories = outputs / "history_dir"
    # C2 reads C1's run and D4 reads D1-D3's: they train nothing new. Under the smoke profile C4's
    # SimpleRNN is C3's 128-unit run (same epochs) and D2's 128-unit runs are D1's batch-256 runs.
    assert len(list((histories / "c").glob("*.json"))) == 3 + 3 + 4 + 2 + 1  # C1 with both initialisations, C3, C4's grid and others
    assert len(list((histories / "d").glob("*.json"))) == 4 + 2 + 2
    for question in ("c_c1", "c_c2", "c_c3", "c_c4", "d_d1", "d_d2", "d_d3", "d_d4"):
        saved = json.loads((histories / "results" / "smoke" / f"{question}.json").read_text())
        assert saved["status"] == "ran" and saved["histories"], question
    d4 = json.loads((histories / "results" / "smoke" / "d_d4.json").read_text())["ours"]
    assert d4["untargeted_success_epsilon_0"] == 0.0 and 0.0 <= d4["targeted_success_epsilon_0.3"] <= 1.0

    figures = outputs / "figure_dir"
    for name in ["c_c1/test_accuracy.png", "c_c2/conv1_filters.png", "c_c3/test_accuracy.png", "c_c4/families_test_accuracy.png",
                 "d_d1/test_accuracy.png", "d_d2/time.png", "d_d3/test_accuracy.png", "d_d4/confusion_matrix.png",
                 "d_d4/success_rate.png", "d_d4/adversarial_examples.png"]:
        assert (figures / name).stat().st_size > 5_000, name
    c1 = (outputs / "reports" / "c_c1_cifar_cnn.html").read_text()
    assert "0.6623" in c1 and "0.6287" in c1 and "starter init" in c1  # published beside ours; both initialisations
    assert "untargeted FGSM" in (outputs / "reports" / "d_d4_adversarial.html").read_text()
