"""The per-epoch histories that the Study A/B author published, carried as a compact copy.

Source: the public repository `tanchuanxin/cz4042_assignment_2` at commit
9e47938991e420f958ffa32e0fad665f5cd358bd, folders `2a/histories/` and
`2b/histories/`: one JSON per run with `train_loss`, `train_accuracy`,
`test_loss`, `test_accuracy` (one value per epoch), `epochs` and, for Study
B, `wall_time_s` (the author's hosted GPU). `published_curves.json.gz` holds
them unchanged, keyed by "<folder>/<run>" (e.g. "2a/q2_model_90_40"); pack a
fresh copy of those files with

    python -m lib.studies.curves <folder of the JSON files> lib/studies/published_curves.json.gz
"""

import dataclasses
import functools
import gzip
import json
import sys
from pathlib import Path

REPOSITORY = "https://github.com/tanchuanxin/cz4042_assignment_2"
COMMIT = "9e47938991e420f958ffa32e0fad665f5cd358bd"
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
_FILE = Path(__file__).with_name("published_curves.json.gz")


@dataclasses.dataclass(frozen=True)
class Curve:
    """One published run.

    Attributes:
        name: "<folder>/<run>", e.g. "2b/q2_word_cnn".
        metrics: dict metric -> tuple of values, epoch 1 first (`METRICS`).
        wall_time_s: the run's training time, where published.
    """

    name: str
    metrics: dict
    wall_time_s: float = None

    @property
    def epochs(self):
        return len(self.metrics["test_accuracy"])

    @property
    def source(self):
        """Where the history was published: repository, commit and file."""
        folder, run = self.name.split("/")
        return f"{REPOSITORY}/blob/{COMMIT}/{folder}/histories/{run}"

    def cite(self, first, last=None):
        """The published values of epochs `first` to `last` (1-based), cited as published.csv cites them."""
        folder, run = self.name.split("/")
        epochs = f"epoch {first}" if last in (None, first) else f"epochs {first}-{last}"
        return f"tanchuanxin/cz4042_assignment_2@{COMMIT[:7]} {folder}/histories/{run}: {epochs}"


@functools.cache
def _all():
    with gzip.open(_FILE, "rt", encoding="utf-8") as stream:
        return json.load(stream)["runs"]


def names():
    """The published runs, sorted."""
    return sorted(_all())


def curve(name):
    """The published run `name` (see `names`) as a `Curve`."""
    runs = _all()
    if name not in runs:
        raise ValueError(f"Unknown published run: {name!r}. Expected one of {tuple(sorted(runs))}.")
    run = runs[name]
    return Curve(name, {metric: tuple(run[metric]) for metric in METRICS}, run.get("wall_time_s"))


def pack(folder):
    """The compact copy's content from the author's history files in `folder` (named `2a_<run>.json`, `2b_<run>.json`)."""
    runs = {}
    for path in sorted(Path(folder).glob("2[ab]_*.json")):
        run = json.loads(path.read_text())
        lengths = {len(run[metric]) for metric in METRICS}
        if lengths != {run["epochs"]}:
            raise ValueError(f"{path}: expected {run['epochs']} values per metric, found lengths {sorted(lengths)}.")
        runs[f"{path.name[:2]}/{run['run']}"] = {key: run[key] for key in (*METRICS, "wall_time_s") if key in run}
    if not runs:
        raise FileNotFoundError(f"No published history files (2a_*.json, 2b_*.json) in {folder}.")
    return {"source": {"repository": REPOSITORY, "commit": COMMIT, "folders": ["2a/histories", "2b/histories"]}, "runs": runs}


def main(argv=None):
    folder, target = argv if argv is not None else sys.argv[1:]
    # No file name or time in the header: the same histories give the same bytes.
    with open(target, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as stream:
        stream.write(json.dumps(pack(folder), separators=(",", ":"), sort_keys=True).encode())


if __name__ == "__main__":
    main()
