"""Reference runs (lib/core/reference.py): shipped histories stand in for training and always say so."""

import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import keras
import matplotlib
import numpy as np
import pytest

from conftest import session_for, tiny_config

from lib import paths
from lib.core import plots, reference, runs
from lib.runner import execute, index
from lib.studies import a as study_a
from lib.studies import c as study_c
from lib.studies import d as study_d
from lib.studies import reproduction, results

matplotlib.use("Agg")


def _fail(*args, **kwargs):
    raise AssertionError("training started")


@pytest.fixture
def packed(session, monkeypatch, tmp_path):
    """A tiny run trained and packed as the smoke profile's reference (in tmp_path/reference); the reader's folders then empty.

    The weight limit ships the tiny CNN's C1 and C2, not its F3 and F4.
    """
    monkeypatch.setattr(paths, "reference_dir", lambda: tmp_path / "reference")
    monkeypatch.setattr(reference, "WEIGHT_LIMIT_BYTES", 10_000)
    monkeypatch.setattr(reference, "_ANNOUNCED", set())
    config = tiny_config(session)
    monkeypatch.setattr(study_a, "weights_loaded", lambda session, trained: [config], raising=False)
    trained = runs.fit_cached(config, progress=False)
    written = reference.pack("smoke", paths.history_dir(), ["a"], data_dir=session.data_dir)
    assert written == [tmp_path / "reference" / "smoke" / "a.json.gz",
                       tmp_path / "reference" / "smoke" / "weights" / f"{reference.reference_key(config)}.npz"]
    for variable in ("HISTORY_DIR", "CHECKPOINT_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / f"reader_{variable.lower()}"))
    monkeypatch.delenv("RETRAIN", raising=False)
    return config, trained


def test_fit_cached_returns_the_reference_run_without_training(packed, monkeypatch, capsys):
    config, trained = packed
    # Not runs._train: its source is part of every key, so replacing it would change the run's key.
    monkeypatch.setattr(runs, "load_data", _fail)
    run = runs.fit_cached(config)
    assert run.history == trained.history and run.reference["bundle"].endswith("reference/smoke/a.json.gz")
    assert run.reference["commits"] and run.reference["shortfalls"]["a_q1"].startswith("smoke profile")
    assert not paths.history_dir().exists() and not paths.checkpoint_dir().exists()  # nothing written
    said = capsys.readouterr().out
    assert f"[{runs.run_label(config)}] reference run:" in said
    assert "these numbers are not a run of yours; trained " in said and "RETRAIN=1 (make all RETRAIN=1 PROFILE=smoke" in said
    assert "data_batch_1" in said  # the data copy it trained on
    figure = plots.learning_curves(run.history, "accuracy", "the reference alone", "reference_alone")
    assert [line.get_label() for line in figure.axes[0].lines] == ["training, reference run", "test, reference run"]
    figure = plots.small_multiples({"tiny": [run.history]}, "test_accuracy", "the reference alone", "reference_panels")
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["reference run"]
    figure = plots.compare_curves({"Adam (ours)": [run.history]}, "test_accuracy", "the reference alone", "reference_compared")
    assert [line.get_label() for line in figure.axes[0].lines] == ["Adam (ours), reference run"]  # our choice, their run

    monkeypatch.setattr(runs.pool, "Pool", _fail)  # no workers for it either
    assert runs.fit_many([config, config], jobs=2)[1].reference == run.reference
    said = capsys.readouterr().out
    assert "2 runs: 0 cached, 2 from the reference run, 0 to train (jobs=2)" in said
    assert "Reference run (" not in said  # announced once per process


def test_retrain_trains_your_own_and_the_plots_draw_the_reference_beside_it(packed, monkeypatch, tiny_cifar):
    config, trained = packed
    monkeypatch.setenv("RETRAIN", "1")
    own = runs.fit_cached(config, progress=False)
    assert own.reference is None and runs.history_path(config).is_file()
    monkeypatch.delenv("RETRAIN")
    assert runs.fit_cached(config, progress=False).reference is None  # your own run, once trained, comes first

    figure = plots.learning_curves(own.history, "accuracy", "yours and the reference", "retrained")
    drawn = {line.get_label(): line for line in figure.axes[0].lines}
    assert set(drawn) == {"training", "test", "training, reference run", "test, reference run"}
    assert drawn["test, reference run"].get_linestyle() == ":"
    assert list(drawn["test, reference run"].get_ydata()) == trained.history["metrics"]["test_accuracy"]
    assert reference.counterpart(own.history) == trained.history
    assert reference.counterpart(trained.history) is None  # the reference itself is not drawn twice

    monkeypatch.setenv("RETRAIN", "yes")
    with pytest.raises(ValueError, match=r"Invalid value for RETRAIN. Received: 'yes'. Expected '1'"):
        runs.setup("smoke", str(tiny_cifar))


def test_a_stale_reference_is_not_used_and_the_checks_name_it(packed, monkeypatch, tmp_path):
    config, _ = packed
    shipped_key = reference.reference_key(config)
    monkeypatch.setattr(runs, "_code_fingerprint", lambda config, every_backend=False: "other training code")
    run = runs.fit_cached(config, progress=False)
    assert run.reference is None and runs.history_path(config).is_file()
    assert reference.stale() == [(str(tmp_path / "reference" / "smoke" / "a.json.gz"), runs.run_label(config), shipped_key)]
    with pytest.raises(ValueError, match=r"1 histories in .*history_dir/a do not match this checkout .* its run key here is "):
        reference.pack("smoke", tmp_path / "history_dir", ["a"], data_dir=config.session.data_dir)


def test_the_runner_trains_notebooks_whose_reference_runs_are_stale(packed, tmp_path):
    bundle = tmp_path / "reference" / "smoke" / "a.json.gz"
    assert execute.shipped_notebooks(["a_q1_cnn", "b_q1_char_cnn"], "smoke") == (["a_q1_cnn"], [])
    payload = json.loads(gzip.decompress(bundle.read_bytes()))
    payload["runs"] = {"0" * 16: shipped for shipped in payload["runs"].values()}  # a key the code no longer gives
    bundle.write_bytes(gzip.compress(json.dumps(payload).encode()))
    assert execute.shipped_notebooks(["a_q1_cnn", "b_q1_char_cnn"], "smoke") == ([], ["a_q1_cnn"])
    bundle.write_bytes(b"not gzip")
    with pytest.raises(RuntimeError, match=r"Checking the reference runs .*a.json.gz.* failed \(python -m lib.core.reference check"):
        execute.shipped_notebooks(["a_q1_cnn"], "smoke")


def test_shipped_layers_load_into_a_truncated_model(packed, capsys):
    config, trained = packed
    run = runs.fit_cached(config, progress=False)
    model = run.load_model()
    assert [layer.name for layer in model.layers] == ["image", "C1", "S1", "C2"]
    said = capsys.readouterr().out
    assert "ships the weights of C1, C2 only (at most 10 kB per run), not of F3 (0.1 MB), F4 (12 kB); the model ends after C2" in said
    full = trained.load_model()
    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    expected = keras.Model(full.input, full.get_layer("C2").output)(images)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)), keras.ops.convert_to_numpy(expected), rtol=1e-6)

    without = dataclasses.replace(run, reference=run.reference | {"weights": {}})
    with pytest.raises(FileNotFoundError, match=r"This reference run \(a cifar_cnn c1=4 c2=6 .*\) ships no weights: .* "
                                                r"RETRAIN=1 \(make all RETRAIN=1 PROFILE=smoke ONLY=<notebook>\) trains your own run"):
        without.load_model()


def test_results_record_the_reference_with_its_own_shortfall(packed, monkeypatch, tmp_path):
    config, _ = packed
    run = runs.fit_cached(config, progress=False)
    monkeypatch.setattr(results, "shortfall", lambda session, question: "this reader's data copy")
    comparison = results.record(config.session, "a_q1", {"test_accuracy_final": 0.5}, [run], epochs=1000)
    saved = json.loads(results.results_path("a_q1", "smoke").read_text())
    assert saved["histories"] == [] and saved["reference"]["runs"] == 1
    assert saved["reference"]["provenance"]["commits"] == run.reference["commits"]
    [final] = [check for check in saved["checks"] if check["metric"] == "test_accuracy_final"]
    assert final["reason"] == "smoke profile: a few images and epochs, to test the code"  # the reference's, not the reader's
    text = reproduction.describe(comparison)
    assert text.startswith(f"These are the reference run's numbers ({reference.summary(run.reference)}), not a run of yours;")

    page = index.build(tmp_path / "reports", tmp_path / "no_notebooks").read_text()
    assert '<span class="reference">reference run</span> a_q1: trained ' in page
    assert "numbers of the reference run, not a run of yours" in page  # beside its checks


def test_studies_declare_the_runs_whose_weights_notebooks_load():
    session = session_for("full", os.environ.get("DATA_DIR", "data"))
    if not (session.data_dir / "mnist").is_dir() or not (session.data_dir / "cifar-10-batches-py").is_dir():
        pytest.skip(f"run keys hash the data files: needs CIFAR-10 and MNIST in DATA_DIR ({session.data_dir})")
    adam = study_c.cnn_config(session, "adam_lr_1e-3")
    assert study_c.weights_loaded(session, {adam.key(): None}) == [adam] and study_c.weights_loaded(session, {}) == []
    labelled = study_d.all_configs(session)
    best = labelled["D3 LSTM 200 units, adam"]
    trained = {config.key(): types.SimpleNamespace(config=config, history={
        "status": "complete", "final": {"test_accuracy": 0.99 if config == best else 0.9}}) for config in labelled.values()}
    assert study_d.weights_loaded(session, trained) == [best]  # D4 loads the best of them all
    del trained[best.key()]
    assert study_d.weights_loaded(session, trained) == []  # not the best of some


def test_committed_reference_matches_code():
    bundles = sorted(paths.reference_dir().glob("*/*.json.gz"))
    if not bundles:
        pytest.skip("no reference run is committed under histories/reference/ yet")
    stale = reference.stale()
    assert not stale, ("The training code changed since these reference runs were trained; train and pack them again "
                       "(README, Reference runs): " + "; ".join(f"{bundle}: {label} ({key})" for bundle, label, key in stale))
    for profile in {path.parent for path in bundles}:
        size = sum(path.stat().st_size for path in profile.rglob("*") if path.is_file())
        assert size <= reference.TOTAL_LIMIT_BYTES, f"{profile} holds {size} bytes"


def test_a_fresh_checkout_renders_a_notebook_from_a_bundle_without_training(tmp_path, monkeypatch):
    """C2 in a copy of the working tree as a clone has it: from the committed C bundle, else from a smoke one packed there."""
    data_dir = os.environ.get("DATA_DIR", "")
    if not (Path(data_dir) / "cifar-10-batches-py").is_dir() or not (Path(data_dir) / "mnist").is_dir():
        pytest.skip(f"needs CIFAR-10 and MNIST in DATA_DIR; received DATA_DIR={data_dir!r}")
    committed = sorted(paths.reference_dir().glob("*/c.json.gz"))
    profile = committed[0].parent.name if committed else "smoke"
    adam = study_c.cnn_config(runs.setup(profile, data_dir), "adam_lr_1e-3")  # C1's run, which C2 loads
    if committed and reference.find(adam) is None:
        pytest.skip(f"{committed[0]} lacks C1's Adam run under the current code (test_committed_reference_matches_code names stale runs)")
    checkout = tmp_path / "checkout"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=paths.ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in listed:
        if name and (paths.ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(paths.ROOT / name, checkout / name)
    if not committed:
        for variable in ("HISTORY_DIR", "CHECKPOINT_DIR"):
            monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
        monkeypatch.setattr(paths, "reference_dir", lambda: checkout / "histories" / "reference")
        runs.fit_cached(adam, progress=False)
        reference.pack(profile, paths.history_dir(), ["c"], data_dir=data_dir)
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("HISTORY_DIR", "CHECKPOINT_DIR", "FIGURE_DIR", "RETRAIN")}
    finished = subprocess.run([sys.executable, "-m", "lib.runner", "--profile", profile, "--data-dir", data_dir,
                               "--only", "c_c2_filters"], cwd=checkout, env=environment | {"PYTHONPATH": str(checkout)},
                              capture_output=True, text=True, timeout=900)
    log = (checkout / "reports" / "c_c2_filters.log").read_text()
    assert finished.returncode == 0, finished.stdout + finished.stderr + log
    assert "1 notebook to run (1 of them from the reference runs shipped for study c" in finished.stdout  # checked as current
    assert f"  Reference run (histories/reference/{profile}/c.json.gz)" in finished.stdout  # on the console too
    assert not (checkout / "histories" / "c").exists() and not (checkout / "checkpoints").exists()  # nothing trained
    assert f"Reference run (histories/reference/{profile}/c.json.gz): these numbers are not a run of yours" in log
    assert "the model ends after conv2" in log
    saved = json.loads((checkout / "histories" / "results" / profile / "c_c2.json").read_text())
    assert saved["histories"] == [] and saved["reference"]["runs"] == 1
    assert "reference runs used" in (checkout / "reports" / "c_c2_filters.html").read_text()
