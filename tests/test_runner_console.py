"""The runner's console: one line per training run, labelled by its settings; everything else in the notebook's log."""

import contextlib
import io

import pytest

from conftest import tiny_config
from lib.core import runs
from lib.runner import execute


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _bar_output(label, epochs, shown_epochs=None):
    """What `runs._progress_bar` prints for a run of `epochs` epochs (its bar left open after `shown_epochs`)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        bar = runs._progress_bar(label, epochs, 0, True)
        bar.mininterval = 0  # every update printed, as over a long run
        for epoch in range(shown_epochs or epochs):
            bar.set_postfix_str(f"test_accuracy 0.{epoch + 1}000", refresh=False)
            bar.update()
        if shown_epochs is None:
            bar.close()
    return printed.getvalue()


def _stream(console, name, text, chunk=7):
    """`text` through `console` in small pieces, as a kernel's stream arrives; returns the log."""
    log = io.StringIO()
    with console.notebook(name, log):
        for start in range(0, len(text), chunk):
            console.write(text[start:start + chunk])
    return log.getvalue()


def test_run_labels_name_the_settings_that_tell_runs_apart():
    assert runs.run_label(tiny_config(None)) == "a cifar_cnn c1=4 c2=6 batch_size=8 seed 0"
    assert runs.run_label(tiny_config(None, optimizer="adam", lr=0.01, seed=2)) == "a cifar_cnn c1=4 c2=6 adam lr=0.01 batch_size=8 seed 2"
    assert runs.run_label(tiny_config(None, epochs=7, data_kwargs={"train_per_class": 1, "test_per_class": 1})) == \
        runs.run_label(tiny_config(None))  # the bar shows the epochs; a notebook's runs share their data
    off = tiny_config(None, model_kwargs={"c1": 4, "c2": 6, "dropout": 0.0, "num_classes": 10})
    assert runs.run_label(off) == runs.run_label(tiny_config(None))  # switched off, or set by the data
    assert runs.run_label(tiny_config(None, model_kwargs={"c1": 4, "c2": 6, "dropout": 0.5})) == \
        "a cifar_cnn c1=4 c2=6 dropout=0.5 batch_size=8 seed 0"


def test_a_run_is_one_line_with_its_result_where_the_console_is_not_a_terminal():
    text = "train (30, 32, 32, 3)\n" + _bar_output("a cifar_cnn c1=50 c2=80 seed 0", 3) + "complete: 3 epochs\n"
    out = io.StringIO()
    log = _stream(execute._Console(out=out), "a_q2_grid", text)
    assert log == text
    [line] = out.getvalue().splitlines()
    assert line.startswith("  [a cifar_cnn c1=50 c2=80 seed 0] epoch 3/3 |####################| ")
    assert "ETA 00:00" in line and line.endswith(", test_accuracy 0.3000")


def test_on_a_terminal_a_run_line_is_updated_in_place_within_its_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    out = Terminal()
    _stream(execute._Console(out=out), "a_q1_cnn", _bar_output("a cifar_cnn c1=50 c2=60 seed 0", 4) + "done\n")
    updates, final = out.getvalue().rsplit("\r\x1b[K", 1)
    assert final.startswith("  [a cifar_cnn c1=50 c2=60 seed 0] epoch 4/4 ") and final.endswith("test_accuracy 0.4000\n")
    shown = [part.removesuffix("\x1b[K") for part in updates.split("\r") if part]
    assert len(shown) >= 4 and "\n" not in updates
    assert all(len(part) <= 59 for part in shown)
    assert all(any(f"epoch {epoch}/4 |" in part for part in shown) for epoch in range(5))


def test_an_unfinished_run_is_said_once_and_names_what_stopped():
    out = io.StringIO()
    console = execute._Console(out=out)
    log = io.StringIO()
    with pytest.raises(KeyboardInterrupt), console.notebook("a_q1_cnn", log):
        console.write(_bar_output("a cifar_cnn c1=50 c2=60 seed 0", 60, shown_epochs=12))
        raise execute.Interrupted("SIGINT")
    assert out.getvalue() == ""
    assert console.stopped() == ("Interrupted a_q1_cnn during run a cifar_cnn c1=50 c2=60 seed 0 (epoch 12/60); "
                                 "`make all` resumes it from its last checkpoint.")

    _stream(console, "a_q1_cnn", _bar_output("a cifar_cnn c1=50 c2=60 seed 0", 60, shown_epochs=3))  # diverged
    assert out.getvalue().splitlines()[0].startswith("  [a cifar_cnn c1=50 c2=60 seed 0] epoch 3/60 |#")
    assert console.stopped() == "Interrupted; `make all` resumes where it stopped."


def test_verbose_leaves_the_console_to_papermill():
    out = io.StringIO()
    text = _bar_output("a cifar_cnn c1=50 c2=60 seed 0", 2)
    assert _stream(execute._Console(verbose=True, out=out), "a_q1_cnn", text) == text and out.getvalue() == ""
