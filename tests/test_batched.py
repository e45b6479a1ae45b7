"""Batched runs (lib/core/batched.py): several seeds in one compiled program train what each trains alone.

The training tests need the JAX backend (KERAS_BACKEND=jax: `make test-jax`,
.ci/run's JAX job); under another backend they skip and only the scheduler's
settings are tested.
"""

import json
import time

import keras
import numpy as np
import pytest

from conftest import tiny_config

from lib import paths
from lib.core import batched, checkpoints, history, models, runs

needs_jax = pytest.mark.skipif(keras.backend.backend() != "jax",
                               reason="batched runs need the JAX backend (KERAS_BACKEND=jax; make test-jax)")
SEEDS = (0, 1, 2)


def _compiled(seed, optimizer, **model_kwargs):
    keras.utils.set_random_seed(seed)
    model = models.build_cifar_cnn(c1=4, c2=6, **model_kwargs)
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _numpy(variables):
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


def _outputs(monkeypatch, tmp_path, setting, folder):
    """BATCH_RUNS=`setting`, histories and checkpoints under tmp_path/folder."""
    monkeypatch.setenv("BATCH_RUNS", setting)
    monkeypatch.setenv("HISTORY_DIR", str(tmp_path / folder / "histories"))
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path / folder / "checkpoints"))


def _fit(configs, monkeypatch, tmp_path, setting, folder, progress=False):
    """`runs.fit_many` with `_outputs`."""
    _outputs(monkeypatch, tmp_path, setting, folder)
    return runs.fit_many(configs, progress=progress)


def _assert_same_training(batched_run, alone):
    """Same key, config and metrics (to float rounding) and weights: what the run trains alone."""
    mine, theirs = batched_run.history, alone.history
    assert mine["key"] == theirs["key"] == batched_run.config.key() == batched_run.history_path.stem
    assert set(mine) == set(theirs) and mine["config"] == theirs["config"]
    assert (mine["status"], mine["epoch"]) == (theirs["status"], theirs["epoch"])
    for name, values in theirs["metrics"].items():
        np.testing.assert_allclose(mine["metrics"][name], values, rtol=1e-5, atol=1e-6, err_msg=name)
    for a, b in zip(_numpy(batched_run.load_model().weights), _numpy(alone.load_model().weights)):
        # Relative to the largest weight: a run with a huge learning rate has weights of 1e10 that cancel.
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.max(np.abs(b), where=np.isfinite(b), initial=1.0))


@needs_jax
def test_batched_epochs_train_what_each_seed_trains_alone(session):
    run_config = tiny_config(session)  # 30 training and 20 test images in batches of 8: both end in a smaller batch
    arrays = runs.load_data(run_config)

    # Momentum (optimizer state) and dropout (per-run random state) must advance per run.
    def optimizer():
        return keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)

    alone = [_compiled(seed, optimizer, dropout=0.5) for seed in SEEDS]
    together = [_compiled(seed, optimizer, dropout=0.5) for seed in SEEDS]
    epochs = batched.BatchedEpochs(together, arrays, run_config.batch_size)
    for epoch in range(3):
        orders = [runs._epoch_order(seed, epoch, len(arrays.y_train)) for seed in SEEDS]
        logs = epochs(orders)
        for model, order, metrics in zip(alone, orders, logs):
            expected = runs._train_epoch(model, arrays, order, run_config.batch_size)
            assert set(metrics) == set(expected)
            for name, value in expected.items():
                assert metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-6), (epoch, name)
    assert len({json.dumps(metrics) for metrics in logs}) == len(SEEDS)  # the seeds did train differently
    for index, (model, twin) in enumerate(zip(alone, together)):
        epochs.write_back(index)
        for a, b in zip(_numpy(model.variables + model.optimizer.variables), _numpy(twin.variables + twin.optimizer.variables)):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@needs_jax
def test_batched_epochs_refuse_models_of_different_shapes(session):
    arrays = runs.load_data(tiny_config(session))
    small = _compiled(0, keras.optimizers.SGD)
    keras.utils.set_random_seed(1)
    other = models.build_cifar_cnn(c1=4, c2=8)
    other.compile(optimizer=keras.optimizers.SGD(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError, match="models of one shape"):
        batched.BatchedEpochs([small, other], arrays, 8)


@needs_jax
def test_fit_many_in_batches_writes_each_run_as_sequential_runs(session, monkeypatch, tmp_path, capsys):
    configs = [tiny_config(session, seed=seed, epochs=3) for seed in SEEDS]
    keys = [config.key() for config in configs]
    alone = _fit(configs, monkeypatch, tmp_path, "0", "alone")
    together = _fit(configs, monkeypatch, tmp_path, "1", "together", progress=True)
    assert "3 runs in 1 programs" in capsys.readouterr().out
    # Batching is an execution detail: the same keys, one history file per run.
    assert [config.key() for config in configs] == keys
    assert len({run.history_path for run in together}) == len(SEEDS)
    for batched_run, run in zip(together, alone):
        assert batched_run.history["provenance"]["batched_runs"] == len(SEEDS) and "batched_runs" not in run.history["provenance"]
        assert history.read_history(batched_run.history_path)["key"] == batched_run.history_path.stem
        _assert_same_training(batched_run, run)
    assert together[0].history["metrics"] != together[1].history["metrics"]
    # Cached now: asked again, nothing trains.
    assert [run.history for run in _fit(configs, monkeypatch, tmp_path, "1", "together")] == [run.history for run in together]
    [single] = _fit([tiny_config(session, seed=7, epochs=3)], monkeypatch, tmp_path, "1", "together")
    assert "batched_runs" not in single.history["provenance"]  # a run alone in its shape trains as without batching


@needs_jax
def test_a_killed_batch_resumes_each_run_from_its_own_state(session, monkeypatch, tmp_path):
    configs = [tiny_config(session, seed=seed, epochs=4) for seed in SEEDS]
    alone = _fit(configs, monkeypatch, tmp_path, "0", "alone")
    monkeypatch.setenv("CHECKPOINT_EVERY", "2")
    real_save = checkpoints.save_state
    saved = []

    def save_then_die(path, model, record):
        real_save(path, model, record)
        saved.append(path)
        if len(saved) == len(SEEDS):
            raise KeyboardInterrupt  # killed right after the batch's resume states at epoch 2

    monkeypatch.setattr(checkpoints, "save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _fit(configs, monkeypatch, tmp_path, "1", "together")
    monkeypatch.setattr(checkpoints, "save_state", real_save)
    assert sorted(path.parent.name for path in saved) == sorted(config.key() for config in configs)
    for path in saved:
        assert json.loads(str(np.load(path)["record"]))["epoch"] == [1, 2]
    saved[0].unlink()  # this run starts over, the other two resume: two batches, from epochs 0 and 2
    together = _fit(configs, monkeypatch, tmp_path, "1", "together")
    for batched_run, run in zip(together, alone):
        _assert_same_training(batched_run, run)
        assert not (batched_run.weights_path.parent / "resume.npz").exists()


@needs_jax
def test_a_deadline_stops_the_batch_with_resume_states(session, monkeypatch, tmp_path):
    configs = [tiny_config(session, seed=seed, epochs=3) for seed in SEEDS]
    alone = _fit(configs, monkeypatch, tmp_path, "0", "alone")
    _outputs(monkeypatch, tmp_path, "1", "together")
    assert batched.fit_pending(configs, progress=False, deadline=time.monotonic()) is False  # past: nothing starts
    assert not paths.checkpoint_dir().exists()
    # Passes while the batch builds and compiles, long before its first epoch ends.
    assert batched.fit_pending(configs, progress=False, deadline=time.monotonic() + 1) is False
    for config in configs:
        assert not runs.history_path(config).exists()
        with np.load(paths.checkpoint_dir() / "a" / config.key() / "resume.npz") as state:
            assert json.loads(str(state["record"]))["epoch"] == [1]  # stopped after its first epoch
    assert batched.fit_pending(configs, progress=False) is True
    for config, run in zip(configs, alone):
        _assert_same_training(runs.fit_cached(config, progress=False), run)


@needs_jax
def test_diverged_runs_of_a_batch_stop_as_alone(session, monkeypatch, tmp_path):
    configs = [tiny_config(session, seed=seed, lr=1e12, epochs=5) for seed in SEEDS]
    alone = _fit(configs, monkeypatch, tmp_path, "0", "alone")
    together = _fit(configs, monkeypatch, tmp_path, "1", "together")
    # Some seeds diverge in the first epoch, one does not: the batch goes on for it alone.
    assert [run.history["status"] for run in alone].count("diverged") in (1, 2)
    for batched_run, run in zip(together, alone):
        assert batched_run.history["status"] == run.history["status"]
        assert batched_run.history.get("diverged_at_epoch") == run.history.get("diverged_at_epoch")
        _assert_same_training(batched_run, run)


def test_groups_are_configs_that_differ_only_in_seed(session):
    seeds = [tiny_config(session, seed=seed) for seed in SEEDS]
    other = [tiny_config(session, seed=seed, model_kwargs={"c1": 5, "c2": 6}) for seed in SEEDS[:2]]
    assert batched.groups([seeds[0], other[0], seeds[1], other[1], seeds[2]]) == [seeds, other]
    moved = runs.setup("smoke", str(session.data_dir.parent))  # another data directory: another batch
    assert batched.shape_key(tiny_config(moved)) != batched.shape_key(seeds[0])


def test_batch_runs_setting(monkeypatch):
    monkeypatch.setenv("BATCH_RUNS", "0")
    assert batched.wanted() is False
    monkeypatch.setenv("BATCH_RUNS", "auto")
    assert batched.wanted() is (keras.backend.backend() == "jax" and runs.backend.has_gpu())
    monkeypatch.setenv("BATCH_RUNS", "yes")
    with pytest.raises(ValueError, match=r"BATCH_RUNS. Received: 'yes'"):
        batched.wanted()
    monkeypatch.setenv("BATCH_RUNS", "1")
    if keras.backend.backend() == "jax":
        assert batched.wanted() is True
    else:
        with pytest.raises(ValueError, match="needs the JAX backend"):
            batched.wanted()
