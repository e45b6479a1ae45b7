"""Profile "auto" fits the machine (full with a GPU, quick without) in the runner, in notebooks and in Colab;
the runner's first line says which, why and about how long."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lib import machine, paths, studies
from lib.core import config, runs
from lib.runner import colab, execute

FIXTURES = Path(__file__).parent / "notebooks"
NAMES = [notebook.stem for notebook in execute.notebooks()]


@pytest.fixture
def gpus(monkeypatch):
    """Sets what `nvidia-smi` lists."""
    return lambda *names: monkeypatch.setattr(machine, "nvidia_gpus", lambda: list(names))


def test_auto_is_full_with_a_gpu_and_quick_without(gpus):
    gpus()
    profile, reason = config.resolve_profile("auto")
    assert profile == "quick" and reason == f"no GPU was found ({machine.cpu_description()})"
    gpus("NVIDIA H200")
    assert config.resolve_profile("auto") == ("full", "a GPU was found (NVIDIA H200)")
    assert config.resolve_profile("smoke") == ("smoke", None)
    with pytest.raises(ValueError, match=r"Unknown profile: 'fast'. Expected one of \('auto', 'smoke', 'quick', 'full'\)."):
        config.resolve_profile("fast")


def test_a_notebook_resolves_auto_in_setup_and_says_so(gpus, tiny_cifar, capsys):
    gpus("Tesla T4")
    assert runs.setup("auto", str(tiny_cifar)) == config.Session("full", tiny_cifar)
    assert capsys.readouterr().out == "Profile full (auto): a GPU was found (Tesla T4).\n"
    gpus()
    assert runs.setup(data_dir=str(tiny_cifar)).profile == "quick"  # the default
    assert capsys.readouterr().out.startswith("Profile quick (auto): no GPU was found (CPU: ")
    runs.setup("smoke", str(tiny_cifar))
    assert capsys.readouterr().out == ""


def test_the_runner_gives_notebooks_the_resolved_profile(tmp_path, monkeypatch, capsys, gpus):
    gpus()
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", FIXTURES)
    assert execute.main(["--reports-dir", str(tmp_path), "--only", "fails", "-p", "fail=False"]) == 0  # auto: the default
    out = capsys.readouterr().out
    assert out.startswith(f"Profile quick (auto: no GPU was found ({machine.cpu_description()})): 1 notebook to run, about ")
    record = json.loads(execute.record_path(tmp_path, "fails").read_text())
    assert record["provenance"]["parameters"]["profile"] == "quick"


def test_estimates_scale_the_full_profile_cpu_hours():
    full = execute.estimate_hours(NAMES, "full")
    assert full == pytest.approx(sum(map(studies.cpu_hours, NAMES))) and full > 100
    quick = execute.estimate_hours(NAMES, "quick")
    assert execute.estimate_hours(NAMES, "smoke") < quick < full / 10
    assert execute.estimate_hours(NAMES, "quick", gpu=True) == pytest.approx(quick / execute._GPU_SPEEDUP)
    # Study D's quick profile trains the published epochs: as long as full.
    assert execute.estimate_hours(["d_d1_lr_batch"], "quick") == pytest.approx(studies.cpu_hours("d_d1_lr_batch"))
    assert [execute._duration(hours) for hours in (0.005, 0.5, 5.44, 148.2)] == ["18 seconds", "30 minutes", "5.4 hours", "148 hours"]


def test_the_first_line_says_the_profile_why_and_how_long():
    quick, full = (execute._duration(execute.estimate_hours(NAMES, profile)) for profile in ("quick", "full"))
    cpu = machine.cpu_description()
    assert execute.plan_line("quick", f"no GPU was found ({cpu})", NAMES, []) == (
        f"Profile quick (auto: no GPU was found ({cpu})): {len(NAMES)} notebooks to run, about {quick} on a 2-core CPU. "
        "PROFILE=smoke tests the code in minutes; PROFILE=full runs the published epochs.")
    assert execute.plan_line("full", None, NAMES, []) == (
        f"Profile full without a GPU ({cpu}): {len(NAMES)} notebooks to run, about {full} on a 2-core CPU. "
        f"Ctrl-C stops it and `make all` resumes it later; PROFILE=quick takes about {quick}.")
    on_gpu = execute.plan_line("full", "a GPU was found (NVIDIA H200)", NAMES, ["NVIDIA H200"])
    assert on_gpu.startswith(f"Profile full (auto: a GPU was found (NVIDIA H200)): {len(NAMES)} notebooks to run, about ")
    assert "if they speed up as Study A Q1 did on an H200 (49x a 2-core CPU; not measured end to end)." in on_gpu
    assert execute.plan_line("smoke", None, ["a_q1_cnn"], []) == "Profile smoke: 1 notebook to run, about 23 seconds on a 2-core CPU."
    assert execute.plan_line("quick", None, [], []) == "Profile quick: every report is up to date."


def test_the_first_line_counts_notebooks_read_from_reference_runs_apart(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "reference_dir", lambda: tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "b.json.gz").write_bytes(b"")
    names = ["a_q1_cnn", "b_q1_char_cnn", "b_q3_char_rnn"]
    monkeypatch.delenv("RETRAIN", raising=False)
    checked = []
    monkeypatch.setattr(execute, "_stale_bundles", lambda bundles: checked.append(bundles) or set())  # tests/test_reference.py runs it
    assert execute.shipped_notebooks(names, "full") == (["b_q1_char_cnn", "b_q3_char_rnn"], [])
    assert checked == [[tmp_path / "full" / "b.json.gz"]]  # each bundle once
    assert execute.shipped_notebooks(names, "quick") == ([], []) and len(checked) == 1  # no bundle, no check
    line = execute.plan_line("full", None, names, [], *execute.shipped_notebooks(names, "full"))
    trained = execute._duration(execute.estimate_hours(["a_q1_cnn"], "full"))
    assert (f"3 notebooks to run (2 of them from the reference runs shipped for study b, about "
            f"{execute._duration(execute.estimate_hours(names[1:], 'smoke'))} without training; RETRAIN=1 trains your own), "
            f"about {trained} on a 2-core CPU.") in line
    assert execute.plan_line("full", None, names[1:], [], names[1:]).endswith("RETRAIN=1 trains your own), nothing to train.")
    stale = execute.plan_line("full", None, names, [], [], names[1:])
    assert stale.startswith("Profile full without a GPU (") and (
        "3 notebooks to run (2 of them train: the reference runs of study b no longer match the training code; "
        "`python -m lib.core.reference check` lists them), about ") in stale
    assert execute._duration(execute.estimate_hours(names, "full")) in stale  # all three train
    monkeypatch.setenv("RETRAIN", "1")
    assert execute.shipped_notebooks(names, "full") == ([], [])


@pytest.mark.parametrize("listed, before, after, said", [
    ("Tesla T4", None, "jax", "GPU found (Tesla T4): Keras runs on JAX, the fast backend there; profile 'auto' runs the full studies.\n"),
    ("Tesla T4", "torch", "torch", ""),
    (None, None, None, ""),
])
def test_colab_setup_chooses_jax_on_a_gpu(tmp_path, monkeypatch, listed, before, after, said):
    monkeypatch.setattr(colab, "REPOSITORY_URL", "https://github.com/someone/else")
    assert colab._BACKEND_CHOICE in colab.setup_source()
    smi = tmp_path / "nvidia-smi"  # without a GPU the tool fails
    smi.write_text(f"#!/bin/sh\necho '{listed}'\n" if listed else "#!/bin/sh\nexit 9\n")
    smi.chmod(0o755)
    environment = {name: value for name, value in os.environ.items() if name != "KERAS_BACKEND"}
    environment |= {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"} | ({"KERAS_BACKEND": before} if before else {})
    code = "import os\n" + textwrap.dedent(colab._BACKEND_CHOICE) + "\nprint(os.environ.get('KERAS_BACKEND'))"
    done = subprocess.run([sys.executable, "-c", code], env=environment, cwd=paths.ROOT, capture_output=True, text=True, check=True)
    assert done.stdout == f"{said}{after}\n"
