"""Reference runs: full-profile histories trained once and shipped with the code.

Training every study under the full profile takes days on a CPU. The
histories of one such run are committed, so that `make all PROFILE=full`
renders the figures and tables from them without training, on any backend
or device, shown as "the reference run" with their own provenance and never
as the reader's run. Under `paths.reference_dir()` (histories/reference/):

    <profile>/<study>.json.gz               {"provenance": {...}, "runs": {reference key: history}}
    <profile>/weights/<reference key>.npz   weights of a run a notebook loads: "<layer>/<index>" -> array

A run's reference key (`reference_key`) hashes its config and its training
code only. Its run key (`runs.run_key`) also hashes the Keras version, the
backend and the data files, which differ from machine to machine; a
reference history stops matching only when the training code changes
(`stale` lists such runs, and tests/test_reference.py fails on them).

`runs.fit_cached` returns the reference run of a config for which the reader
has no finished history of their own, unless `$RETRAIN` is "1" (`retrain`);
the plots draw the reference beside a run of the reader's own
(`counterpart`). Weights ship only for the runs a notebook loads (a study's
`weights_loaded(session, trained)`), and of each only the longest prefix of
its layers within `WEIGHT_LIMIT_BYTES`, which keeps the repository small.

    python -m lib.core.reference pack --profile full --history-dir histories --studies b c d
    python -m lib.core.reference check    # the shipped runs the current code no longer matches

Importing this module does not import Keras: the runner and the index read
bundles' provenance (`summary`).
"""

import argparse
import dataclasses
import datetime
import functools
import gzip
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from lib import files, machine, paths
from lib.core import history
from lib.core.config import PROFILE_NAMES, RunConfig, Session

WEIGHT_LIMIT_BYTES = 2_000_000  # per shipped run: D's best RNN fits whole, C1's CNN its convolutions
TOTAL_LIMIT_BYTES = 8_000_000  # a profile's bundles and weights together (the repository allows 10 MB in all)


@dataclasses.dataclass(frozen=True)
class Shipped:
    """A run's reference: its history, its bundle's provenance and its weights file (None where none ship)."""

    history: dict
    provenance: dict
    weights_path: Path | None


def retrain():
    """Whether `$RETRAIN` asks to train runs that have a reference run: "1" yes; unset, "" or "0" no."""
    value = os.environ.get("RETRAIN") or "0"
    if value not in ("0", "1"):
        raise ValueError(f"Invalid value for RETRAIN. Received: {value!r}. Expected '1' (train your own runs) or '0'.")
    return value == "1"


def reference_key(config):
    """16 hex digits naming a run among the reference runs: its config and training code, nothing of the machine.

    Args:
        config: a `RunConfig`, or its `as_dict()` (the "config" of a history).
    """
    from lib.core import runs  # imports Keras

    if isinstance(config, dict):
        config = RunConfig(**config)
    # The code of every backend, JAX's compiled epochs included: one key on every machine.
    payload = {"config": config.as_dict(), "code": runs._code_fingerprint(config, every_backend=True)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def bundle_path(profile, study):
    """Where the reference runs of `study` under `profile` are shipped."""
    return paths.reference_dir() / profile / f"{study}.json.gz"


def find(config):
    """The reference of `config` (a `RunConfig` with a session), or None where none ships."""
    bundle = read_bundle(bundle_path(config.session.profile, config.study))
    if bundle is None:
        return None
    key = reference_key(config)
    if key not in bundle["runs"]:
        return None
    weights = bundle["provenance"]["weights"].get(key)
    return Shipped(bundle["runs"][key], bundle["provenance"], weights and bundle["path"].parent / weights["file"])


def counterpart(found):
    """The reference history of the settings of history `found` when `found` is another run of them (the reader's own); else None."""
    shipped = _shipped(found)
    return shipped if shipped and shipped["provenance"] != found["provenance"] else None


def is_reference(found):
    """Whether history `found` is a shipped reference run (as `runs.fit_cached` returns it in place of training)."""
    shipped = _shipped(found)
    return bool(shipped) and shipped["provenance"] == found["provenance"]


def _shipped(found):
    # The shipped history of the settings of history `found`, or None.
    profile, config = (found.get("provenance") or {}).get("profile"), found.get("config")
    if profile not in PROFILE_NAMES or not config:
        return None
    bundle = read_bundle(bundle_path(profile, config["study"]))  # checked first: no bundle, no Keras import
    return bundle and bundle["runs"].get(reference_key(config))


def read_bundle(path):
    """The bundle at `path` with its "path", or None where there is none (read once per process and version)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return _read_bundle(path, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=16)
def _read_bundle(path, mtime_ns, size):
    try:
        with gzip.open(path, "rt") as file:
            content = json.load(file)
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"The reference runs in {path} cannot be read ({error}). Expected the gzip JSON that "
                         f"`python -m lib.core.reference pack` writes; `git checkout -- {_shown(path)}` restores it.") from None
    return content | {"path": path, "provenance": content["provenance"] | {"bundle": _shown(path)}}


def _shown(path):
    return str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)


def summary(provenance):
    """A bundle's provenance in one phrase: when, where, at which commit and on which data it was trained."""
    data = "; ".join(f"{name} ({info.get('copy') or 'unknown copy'})" for name, info in sorted(provenance["data_files"].items()))
    return (f"trained {provenance['trained']['start']} to {provenance['trained']['end']} on {' and '.join(provenance['devices'])} "
            f"({', '.join(provenance['backends'])}; Keras {', '.join(provenance['keras'])}) "
            f"at commit {', '.join(provenance['commits'])}, on {data or 'data files not recorded'}")


_ANNOUNCED = set()  # the bundles this process (a notebook's kernel) has announced: one line each


def announce(provenance):
    """Say once per process and bundle that runs come from it, with its provenance and how to train one's own."""
    if provenance["bundle"] in _ANNOUNCED:
        return
    _ANNOUNCED.add(provenance["bundle"])
    print(f"Reference run ({provenance['bundle']}): these numbers are not a run of yours; {summary(provenance)}. "
          f"{_retrain_help(provenance['profile'])} runs, drawn beside the reference.", flush=True)


def _retrain_help(profile):
    return f"RETRAIN=1 (make all RETRAIN=1 PROFILE={profile} ONLY=<notebook>) trains your own"


def load_model(run):
    """The model of reference run `run` (a `runs.Run`) with the weights its bundle ships.

    Where only a prefix of its layers ships, the model ends after the last
    of them (a functional sub-model) and says which layers were left out.

    Raises:
        FileNotFoundError: no weights of this run ship.
    """
    from lib.core import runs
    from lib.core.backend import keras

    shipped = run.reference["weights"].get(reference_key(run.config))
    label = runs.run_label(run.config)
    if shipped is None:
        raise FileNotFoundError(
            f"This reference run ({label}) ships no weights: the repository keeps them only for the runs a notebook "
            f"loads. {_retrain_help(run.reference['profile'])} run, whose model load_model then returns.")
    model = runs._build_model(run.config)
    with np.load(run.weights_path) as arrays:
        for name in shipped["layers"]:
            layer = model.get_layer(name)
            layer.set_weights([arrays[f"{name}/{index}"] for index in range(len(layer.weights))])
    if not shipped["left_out"]:
        return model
    last = shipped["layers"][-1]
    left_out = ", ".join(f"{name} ({_size(size)})" for name, size in shipped["left_out"].items())
    print(f"Reference run {label}: the repository ships the weights of {', '.join(shipped['layers'])} only "
          f"(at most {_size(shipped['limit_bytes'])} per run), not of {left_out}; the model ends after {last}. "
          f"{_retrain_help(run.reference['profile'])} run, with every layer.", flush=True)
    return keras.Model(model.input, model.get_layer(last).output, name=f"{model.name}_to_{last}")


def _size(count):
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.0f} kB"


def stale(bundles=None):
    """[(bundle, run label, reference key)] of the shipped runs whose key the current code no longer gives.

    Args:
        bundles: the bundle paths to check; None checks every shipped bundle.
    """
    from lib.core import runs

    found = []
    for path in sorted(paths.reference_dir().glob("*/*.json.gz")) if bundles is None else map(Path, bundles):
        for key, shipped in read_bundle(path)["runs"].items():
            if reference_key(shipped["config"]) != key:
                found.append((_shown(path), runs.run_label(RunConfig(**shipped["config"])), key))
    return found


def pack(profile, history_dir, study_names, data_dir=None, checkpoint_dir=None, command=None):
    """Write the bundles of `study_names` from the finished `profile` histories under `history_dir`.

    Args:
        profile: one of `PROFILE_NAMES`: the histories' profile.
        history_dir: holds `<study>/<run key>.json` (a `$HISTORY_DIR`).
        study_names: study letters, e.g. ["b", "c", "d"].
        data_dir: the data directory the runs trained on (their run keys
            hash its files); None uses `$DATA_DIR` or data/.
        checkpoint_dir: holds their weights (a `$CHECKPOINT_DIR`); None uses
            `$CHECKPOINT_DIR` or checkpoints/.
        command: the command that trained them, as the provenance says it.
            Defaults to "make all PROFILE=<profile>".

    Returns:
        The paths written.

    Raises:
        ValueError: a history's stored key is not its run key under this
            checkout (it was trained by other code, Keras, backend or data),
            a study has no finished history, or the bundles would exceed
            `TOTAL_LIMIT_BYTES`.
    """
    from lib import studies

    session = Session(profile, paths.data_dir(data_dir))
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else paths.checkpoint_dir()
    written, replaced = {}, set()
    for study in study_names:
        trained = _trained(session, Path(history_dir) / study, checkpoint_dir / study)
        weights = {}
        for config in getattr(studies.STUDIES[study], "weights_loaded", lambda *_: [])(session, trained):
            shipped, left_out = _weight_prefix(trained[config.key()].load_model())
            if shipped:
                key = reference_key(config)
                weights[key] = {"file": f"weights/{key}.npz", "layers": list(shipped), "left_out": left_out,
                                "limit_bytes": WEIGHT_LIMIT_BYTES}
                buffer = io.BytesIO()
                np.savez_compressed(buffer, **{f"{name}/{index}": value for name, values in shipped.items()
                                               for index, value in enumerate(values)})
                written[paths.reference_dir() / profile / weights[key]["file"]] = buffer.getvalue()
        provenance = _provenance(session, study, trained, weights, command or f"make all PROFILE={profile}")
        payload = {"provenance": provenance, "runs": {reference_key(run.config): run.history for run in trained.values()}}
        written[bundle_path(profile, study)] = gzip.compress(json.dumps(payload, sort_keys=True).encode(), mtime=0)
        old = read_bundle(bundle_path(profile, study))
        if old is not None:  # its weights files go unless packed again
            replaced |= {old["path"]} | {old["path"].parent / shipped["file"] for shipped in old["provenance"]["weights"].values()}
    kept = [path for path in paths.reference_dir().joinpath(profile).rglob("*")
            if path.is_file() and path not in replaced and path not in written]
    total = sum(map(len, written.values())) + sum(path.stat().st_size for path in kept)
    if total > TOTAL_LIMIT_BYTES:
        raise ValueError(f"The reference runs of profile {profile} would take {total / 1e6:.1f} MB; expected at most "
                         f"{TOTAL_LIMIT_BYTES / 1e6:g} MB (TOTAL_LIMIT_BYTES). Ship fewer studies or weights.")
    for path in replaced - set(written):
        path.unlink(missing_ok=True)
    for path, content in written.items():
        with files.atomic_file(path, "wb") as file:
            file.write(content)
    return sorted(written)


def _trained(session, folder, weights_folder):
    """{run key: runs.Run} of the finished histories of `session.profile` in `folder`, each checked against this checkout."""
    from lib.core import runs

    trained, stale_runs = {}, []
    for path in sorted(folder.glob("*.json")):
        found = history.read_history(path)
        config = RunConfig(**found["config"], session=session)
        if found["provenance"].get("profile") != session.profile or (
                found["status"] == "complete" and len(found["epoch"]) < config.epochs):
            continue
        key = config.key()
        if found["key"] != key:
            made = found["provenance"]
            stale_runs.append(f"{path.name} ({runs.run_label(config)}; trained under {made['backend']}, Keras {made['keras']}, "
                              f"at commit {_commit(made['git'])}): its run key here is {key}")
        trained[key] = runs.Run(config, found, path, weights_folder / key / "final.weights.h5")
    if stale_runs:
        raise ValueError(
            f"{len(stale_runs)} histories in {folder} do not match this checkout (its training code, Keras version "
            f"or backend, or the data files in {session.data_dir} differ from theirs): " + "; ".join(stale_runs)
            + ". Pack them from the checkout, backend and data directory they were trained with, train them again, "
            f"or move them out of {folder} where no notebook uses them any more.")
    if not trained:
        raise ValueError(f"No finished {session.profile}-profile history in {folder}. Expected the histories of a "
                         f"`make all PROFILE={session.profile}` run (its HISTORY_DIR).")
    return trained


def _weight_prefix(model):
    """({layer name: weight arrays}, {layer name: bytes left out}): the longest prefix of `model`'s layers within `WEIGHT_LIMIT_BYTES`."""
    shipped, left_out, total = {}, {}, 0
    for layer in model.layers:
        values = layer.get_weights()
        if not values:  # a pooling or flattening layer: nothing to ship
            continue
        size = sum(value.nbytes for value in values)
        if left_out or total + size > WEIGHT_LIMIT_BYTES:
            left_out[layer.name] = size
        else:
            shipped[layer.name], total = values, total + size
    return shipped, left_out


def _provenance(session, study, trained, weights, command):
    """Where, when, at which commit and on which data `trained` ran, what the data lacks per question, and how they were packed."""
    from lib.studies import published, results, study_letter

    made = [run.history["provenance"] for run in trained.values()]
    questions = sorted({question for question in published.table()["question"] if study_letter(question) == study})
    return {
        "profile": session.profile,
        "study": study,
        "runs": len(made),
        "trained": {"start": min(found["start"] for found in made), "end": max(found["end"] for found in made)},
        "devices": sorted({found["device"] for found in made}),
        "backends": sorted({f"{found['backend']} {found.get('backend_version') or ''}".strip() for found in made}),
        "keras": sorted({found["keras"] for found in made}),
        "commits": sorted({_commit(found["git"]) for found in made}),
        "data_files": {name: info for found in made for name, info in found["data_files"].items()},
        "shortfalls": {question: results.shortfall(session, question) for question in questions},
        "command": command,
        "packed": {"at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "commit": _commit(machine.git_state()), "by": "python -m lib.core.reference " + " ".join(sys.argv[1:])},
        "weights": weights,
    }


def _commit(git):
    if not git or not git.get("commit"):
        return "unknown"
    return git["commit"][:10] + (" (uncommitted changes)" if git.get("dirty") else "")


def main(argv=None):
    from lib import studies

    parser = argparse.ArgumentParser(prog="python -m lib.core.reference", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="write the bundles of some studies from a full run's histories")
    packing.add_argument("--profile", required=True, choices=PROFILE_NAMES)
    packing.add_argument("--history-dir", required=True, help="the HISTORY_DIR of the run to ship")
    packing.add_argument("--studies", nargs="+", required=True, choices=sorted(studies.STUDIES))
    packing.add_argument("--data-dir", default="", help="the data directory it trained on (default: $DATA_DIR or data/)")
    packing.add_argument("--checkpoint-dir", default="", help="its CHECKPOINT_DIR (default: $CHECKPOINT_DIR or checkpoints/)")
    packing.add_argument("--trained-by", default=None, help='the command that trained it (default: "make all PROFILE=<profile>")')
    checking = commands.add_parser("check", help="list the shipped runs that the current training code no longer matches")
    checking.add_argument("bundles", nargs="*", help="bundles to check (default: every shipped bundle)")
    checking.add_argument("--json", action="store_true", help="print only a JSON list of the bundles with stale runs")
    args = parser.parse_args(argv)
    if args.command == "check":
        found = stale(args.bundles or None)
        if args.json:
            print(json.dumps(sorted({str(paths.ROOT / bundle) for bundle, _, _ in found})))
            return 0
        for bundle, label, key in found:
            print(f"stale: {bundle}: {label} ({key})")
        print(f"{len(found)} stale reference runs" if found else "Every reference run matches the current code.")
        return 1 if found else 0
    try:
        written = pack(args.profile, args.history_dir, args.studies, args.data_dir or None, args.checkpoint_dir or None, args.trained_by)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"{_shown(path)}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
