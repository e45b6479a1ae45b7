import dataclasses
import importlib.util
import re
import textwrap

import keras
import numpy as np
import pytest

from conftest import tiny_config

from lib import files
from lib.core import backend, config, data, history, models, runs
from lib.studies import a as study_a



def _twin_models(optimizer, **model_kwargs):
    """Two compiled models with the same initial weights, to train two ways and compare."""
    compiled = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = models.build_cifar_cnn(c1=4, c2=6, **model_kwargs)
        model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        compiled.append(model)
    return compiled


def test_fit_writes_a_complete_history(session):
    run = runs.fit_cached(tiny_config(session), progress=False)
    h = history.read_history(run.history_path)
    assert run.history_path.parent.name == "a" and h["status"] == "complete"
    assert h["epoch"] == [1, 2] and len(h["epoch_time_s"]) == 2
    assert set(h["metrics"]) == {"loss", "accuracy", "test_loss", "test_accuracy"}
    assert h["final"]["test_accuracy"] == h["metrics"]["test_accuracy"][-1]
    provenance = h["provenance"]
    assert provenance["profile"] == "smoke" and provenance["backend"] == keras.backend.backend()
    assert provenance["device"].startswith(("CPU: ", "GPU: "))
    assert {"keras", "numpy", "git", "start", "end", "data_files"} <= set(provenance)
    assert run.load_model().count_params() == models.build_cifar_cnn(c1=4, c2=6).count_params()


def test_an_epoch_logs_and_trains_what_fit_would(session):
    run_config = tiny_config(session)  # 30 training images in batches of 8: the last batch is smaller
    arrays = runs.load_data(run_config)
    compiled = _twin_models(lambda: keras.optimizers.SGD(learning_rate=0.05))
    order = np.random.default_rng(0).permutation(len(arrays.y_train))
    ours = runs._train_epoch(compiled[0], arrays, order, run_config.batch_size)
    fitted = compiled[1].fit(arrays.x_train[order], arrays.y_train[order], batch_size=run_config.batch_size, shuffle=False,
                             validation_data=(arrays.x_test, arrays.y_test), verbose=0).history
    assert set(ours) == {name.replace("val_", "test_") for name in fitted}
    for name, values in fitted.items():
        assert ours[name.replace("val_", "test_")] == pytest.approx(values[0], rel=1e-5), name
    for mine, theirs in zip(compiled[0].weights, compiled[1].weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="compiled epochs are JAX's (make test-backends)")
def test_device_epochs_train_what_the_batch_loop_trains(session):
    from lib.core.device_epochs import DeviceEpochs

    run_config = tiny_config(session)  # 30 training and 20 test images in batches of 8: both end in a smaller batch
    arrays = runs.load_data(run_config)
    # dropout: its random state must advance alike
    compiled = _twin_models(lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), dropout=0.5)
    device_epochs = DeviceEpochs(compiled[1], arrays, run_config.batch_size)
    for epoch in range(2):
        order = runs._epoch_order(0, epoch, len(arrays.y_train))
        loop, device = runs._train_epoch(compiled[0], arrays, order, run_config.batch_size), device_epochs(order)
        assert set(device) == set(loop)
        for name, value in loop.items():
            assert device[name] == pytest.approx(value, rel=1e-5), (epoch, name)
    for mine, theirs in zip(compiled[0].weights + compiled[0].optimizer.variables,
                            compiled[1].weights + compiled[1].optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs), keras.ops.convert_to_numpy(mine), rtol=1e-5, atol=1e-6)


def test_same_seed_gives_identical_histories(session, monkeypatch, tmp_path):
    first = runs.fit_cached(tiny_config(session, seed=3), progress=False).history
    monkeypatch.setenv("HISTORY_DIR", str(tmp_path / "second"))
    second = runs.fit_cached(tiny_config(session, seed=3), progress=False).history
    assert first["metrics"] == second["metrics"]
    other_seed = runs.fit_cached(tiny_config(session, seed=4), progress=False).history
    assert other_seed["metrics"] != first["metrics"]


def test_cache_hit_skips_training_and_a_changed_config_misses(session, monkeypatch):
    runs.fit_cached(tiny_config(session), progress=False)
    calls = []
    real_write = files.write_json  # patching _train itself would change the code key
    monkeypatch.setattr(files, "write_json", lambda *args: calls.append(args) or real_write(*args))

    runs.fit_cached(tiny_config(session), progress=False)
    assert calls == []
    runs.fit_cached(tiny_config(session, lr=0.01), progress=False)
    assert len(calls) == 1


def test_key_covers_config_code_and_data(session, monkeypatch):
    key = tiny_config(session).key()
    assert key == tiny_config(session).key() and len(key) == 16
    assert tiny_config(session, seed=1).key() != key
    assert tiny_config(session, model_kwargs={"c1": 4, "c2": 7}).key() != key
    with monkeypatch.context() as patch:  # another training loop: the runs must be redone
        patch.setattr(runs, "_train_epoch", lambda model, data, order, batch_size: {})
        assert tiny_config(session).key() != key

    def build_cifar_cnn(c1=50, c2=60, dropout=0.0, num_classes=10):  # same signature, other code
        return None

    monkeypatch.setattr(models, "build_cifar_cnn", build_cifar_cnn)
    assert tiny_config(session).key() != key
    monkeypatch.undo()
    batch = session.data_dir / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes())  # same bytes, new mtime: same key
    assert tiny_config(session).key() == key


def _module_from_source(path, source):
    """A module imported from `source` written to `path` (`inspect.getsource` needs a file)."""
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_key_ignores_docstrings_and_comments_of_the_training_code(session, monkeypatch, tmp_path):
    def key_with(name, source):
        monkeypatch.setattr(runs, "_train_epoch", _module_from_source(tmp_path / f"{name}.py", source)._train_epoch)
        return tiny_config(session).key()

    key = key_with("original", '''
        def _train_epoch(model, data, order, batch_size):
            """Train one epoch."""
            return {"loss": 0.0 * batch_size}  # no training
        ''')
    assert key_with("reworded", '''
        def _train_epoch(model, data, order, batch_size):
            """Train one epoch,
            reworded over two lines."""

            # A new comment.
            return {"loss": 0.0 * batch_size}  # still no training
        ''') == key
    assert key_with("undocumented", '''
        def _train_epoch(model, data, order, batch_size):
            return {"loss": 0.0 * batch_size}
        ''') == key
    assert key_with("constant", '''
        def _train_epoch(model, data, order, batch_size):
            """Train one epoch."""
            return {"loss": 1.0 * batch_size}  # no training
        ''') != key
    assert key_with("operation", '''
        def _train_epoch(model, data, order, batch_size):
            """Train one epoch."""
            return {"loss": 0.0 + batch_size}  # no training
        ''') != key


def test_model_key_ignores_docstrings_and_comments_of_the_factory(session, monkeypatch, tmp_path):
    def key_with(name, source):
        factory = _module_from_source(tmp_path / f"{name}.py", source).build_cifar_cnn
        monkeypatch.setattr(models, "build_cifar_cnn", factory)
        return tiny_config(session).key()

    key = key_with("factory", '''
        def build_cifar_cnn(c1=50, c2=60, dropout=0.0, num_classes=10):
            class Net:
                pass
            return Net
        ''')
    # A docstring naming functions of lib/core/models.py does not add their code to the key.
    assert key_with("documented", '''
        def build_cifar_cnn(c1=50, c2=60, dropout=0.0, num_classes=10):
            """As build_char_cnn, without `_text_cnn_head`."""
            class Net:  # a class with only a docstring
                """A network."""
            return Net
        ''') == key
    assert key_with("changed", '''
        def build_cifar_cnn(c1=50, c2=60, dropout=0.0, num_classes=10):
            class Net:
                size = num_classes
            return Net
        ''') != key


def test_incomplete_history_is_retrained(session):
    run = runs.fit_cached(tiny_config(session), progress=False)
    stale = dict(run.history, status="running")
    files.write_json(run.history_path, stale)
    assert runs.fit_cached(tiny_config(session), progress=False).history["status"] == "complete"


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"model": "resnet"}, ValueError, re.escape(f"Unknown model: 'resnet'. Expected one of {tuple(config.MODELS)}.")),
        ({"data": "imagenet"}, ValueError, re.escape(f"Unknown data: 'imagenet'. Expected one of {tuple(data.SOURCES)}.")),
        ({"optimizer": "adamw"}, ValueError, r"Unknown optimizer: 'adamw'. Expected one of \('sgd', 'rmsprop', 'adam'\)."),
        ({"epochs": 0}, ValueError, r"Invalid value for `epochs`. Received: epochs=0. Expected a positive integer."),
        ({"epochs": 2.5}, ValueError, r"Received: epochs=2.5"),
        ({"batch_size": -1}, ValueError, r"Received: batch_size=-1"),
        ({"seed": -1}, ValueError, r"Received: seed=-1. Expected a non-negative integer."),
        ({"lr": 0}, ValueError, r"Received: lr=0. Expected a positive number."),
        ({"model_kwargs": {"channels": 3}}, ValueError, r"Unknown model_kwargs for build_cifar_cnn: \['channels'\]"),
        ({"data_kwargs": {"train_size": 3}}, ValueError, r"Unknown data_kwargs for load_cifar10: \['train_size'\]"),
        ({"model_kwargs": [1]}, TypeError, r"`model_kwargs` must be a dict. Received: list."),
        ({"precision": "float16"}, ValueError, r"Unknown precision: 'float16'. Expected one of \('float32', 'mixed_bfloat16'\)."),
    ],
)
def test_bad_configs(overrides, error, message):
    with pytest.raises(error, match=message):
        tiny_config(None, **overrides)


def test_profiles():
    assert config.profile_settings(study_a.PROFILES, "full", "a")["epochs"] == 1000
    assert config.profile_settings(study_a.PROFILES, "quick", "a", epochs=7)["epochs"] == 7
    with pytest.raises(ValueError, match=r"Unknown profile: 'fast'. Expected one of \('smoke', 'quick', 'full'\)."):
        config.profile_settings(study_a.PROFILES, "fast", "a")
    with pytest.raises(ValueError, match=r"Received: epochs=0"):
        config.profile_settings(study_a.PROFILES, "quick", "a", epochs=0)
    with pytest.raises(ValueError, match=r"Unknown profile: 'fast'"):
        runs.setup("fast")


def test_setup_returns_the_session_that_configs_carry(tiny_cifar):
    session = runs.setup("quick", str(tiny_cifar))
    assert session == config.Session("quick", tiny_cifar) and tiny_config(session).session is session
    assert "session" not in tiny_config(session).as_dict() and tiny_config(session) == tiny_config(None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.profile = "full"


def test_fit_needs_a_session():
    with pytest.raises(ValueError, match=r"This RunConfig has no session: build it with a session from runs.setup"):
        runs.fit_cached(tiny_config(None))


def test_mixed_bfloat16_computes_in_bfloat16_and_leaves_the_global_policy(session):
    run = runs.fit_cached(tiny_config(session, precision="mixed_bfloat16"), progress=False)
    assert run.config.key() != tiny_config(session).key()
    model = run.load_model()
    assert model.get_layer("C1").compute_dtype == "bfloat16"
    assert {variable.dtype for variable in model.weights} == {"float32"}  # weights stay float32
    assert keras.config.dtype_policy().name == "float32"
    assert run.history["status"] == "complete" and len(run.history["metrics"]["test_accuracy"]) == 2


def test_a_model_key_covers_the_layers_and_helpers_its_factory_uses():
    used = "".join(runs.model_code(models.build_char_cnn))
    assert "class CharConv1D" in used and "def _sum_of_kernel_rows" in used and "class OneHot" in used and "def _text_cnn_head" in used
    assert "def build_word_rnn" not in used


def test_set_threads_needs_a_positive_count():
    with pytest.raises(ValueError, match=r"Invalid value for `threads`. Received: threads=0. Expected a positive integer."):
        backend.set_threads(0)
