"""Execute every study notebook with papermill and render HTML reports.

    python -m lib.runner --profile smoke --data-dir ../shared/data
    python -m lib.runner --only a_q1_cnn -p seed=1

Each notebook runs into `reports/<name>.ipynb` and is rendered to
`reports/<name>.html`, failed ones included (papermill marks the failing
cell). The runner keeps going after a failure, prints each notebook's status
and time, and exits 1 if any failed, 2 on bad arguments.
"""

import argparse
import ast
import logging
import os
import sys
import time
from pathlib import Path

from lib import paths

NOTEBOOK_DIR = paths.ROOT / "notebooks"
PROFILES = ("smoke", "quick", "full")

# Hours a notebook needs under the full profile on a 2-core CPU (TensorFlow
# backend): its runs x 1000 epochs x the 4.7-4.9 s per epoch measured for
# Study A on such a machine (Q4 only reads Q1-Q3's runs). Shown before a full
# run that finds no GPU.
FULL_PROFILE_CPU_HOURS = {
    "a_q1_cnn": 1.3,  # 1 run
    "a_q2_grid": 101.0,  # 25 cells x 3 seeds
    "a_q3_variants": 15.7,  # 4 variants x 3 seeds
    "a_q4_compare": 0.0,
    "a_x_full_data": 6.5,  # 1 run on 5x the images
    # Study E: 30 trials x 10 epochs. Measured on 2 cores (shared): CNN trials
    # 3.5-26 s per epoch on 4,000 images, so ~110 s on average on 45,000;
    # language-model trials 12-43 s per epoch with 3,000 words, ~3.6x the
    # softmax work with the full ~11,000-word vocabulary: ~60 s on average.
    "e_q1_cnn_search": 9.2,
    "e_q2_word_lm_search": 5.0,
}


def notebooks(only=None):
    """The study notebooks (sorted), or those named in `only`."""
    found = {path.stem: path for path in sorted(NOTEBOOK_DIR.glob("*.ipynb"))}
    if not only:
        return list(found.values())
    unknown = [name for name in only if name not in found]
    if unknown:
        raise ValueError(f"Unknown notebook: {unknown[0]!r}. Expected one of {tuple(found)}.")
    return [found[name] for name in only]


def parse_parameter(text):
    """'name=value' -> (name, value); the value is a Python literal or a string."""
    name, separator, value = text.partition("=")
    if not separator or not name.isidentifier():
        raise ValueError(f"Invalid parameter: {text!r}. Expected name=value, e.g. seed=1.")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool}


def _parameters(notebook):
    import papermill

    return papermill.inspect_notebook(str(notebook))


def check_parameters(notebook, parameters):
    """Raise ValueError if `notebook` lacks one of `parameters` or a value has the wrong type.

    The messages name the valid parameters, or the value and the type its
    `parameters` cell declares.
    """
    declared = _parameters(notebook)
    for name, value in parameters.items():
        if name not in declared:
            raise ValueError(f"Unknown parameter {name!r} for notebook {notebook.stem}. Valid parameters: {', '.join(declared)}.")
        expected = declared[name]["inferred_type_name"]
        wrong_bool = isinstance(value, bool) and expected in ("int", "float")
        if expected in _TYPES and (wrong_bool or not isinstance(value, _TYPES[expected])):
            raise ValueError(f"Invalid value for parameter {name!r} of notebook {notebook.stem}: {value!r}. Expected {expected}.")


def run_notebook(notebook, parameters, reports_dir, log_output=False):
    """Execute one notebook and render its HTML; return (status, seconds, error)."""
    import nbconvert
    import nbformat
    import papermill

    output = reports_dir / f"{notebook.stem}.ipynb"
    start = time.perf_counter()
    status, error = "ok", None
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(notebook.parent),
            progress_bar=False,
            log_output=log_output,
        )
    except papermill.PapermillExecutionError as failure:
        status, error = "failed", f"{failure.ename}: {failure.evalue}"
    seconds = time.perf_counter() - start
    if output.exists():
        html, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.read(output, as_version=4))
        output.with_suffix(".html").write_text(html)
    return status, seconds, error


def _warn_full_without_gpu(selected):
    from lib import runs

    if runs.has_gpu():
        return
    hours = sum(FULL_PROFILE_CPU_HOURS.get(notebook.stem, 0.0) for notebook in selected)
    print(
        "WARNING: PROFILE=full runs the studies' real epochs, which needs a GPU, and "
        f"none was found ({runs.device_description()}). Estimated time on this CPU: "
        f"about {hours:.1f} hours. For meaningful numbers in minutes run "
        "`make all PROFILE=quick` (or `python -m lib.runner --profile quick`).",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lib.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=os.environ.get("PROFILE") or "full", help="smoke | quick | full (default: $PROFILE or full)")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""), help="data directory (default: $DATA_DIR or data/)")
    parser.add_argument("--reports-dir", default=str(paths.ROOT / "reports"), help="where executed notebooks and HTML go")
    parser.add_argument("--jobs", type=int, default=os.environ.get("JOBS") or "1",  # argparse converts it
                        help="runs trained at once by notebooks that train many (default: $JOBS or 1)")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (names without .ipynb)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="extra notebook parameter")
    parser.add_argument("--quiet", action="store_true", help="do not stream notebook output")
    args = parser.parse_args(argv)
    try:
        if args.profile not in PROFILES:
            raise ValueError(f"Unknown profile: {args.profile!r}. Expected one of {PROFILES}.")
        selected = notebooks(args.only)
        extra = dict(parse_parameter(text) for text in args.parameter)
        if args.jobs < 1:
            raise ValueError(f"Invalid value for --jobs. Received: {args.jobs}. Expected a positive integer.")
        for name in ("profile", "data_dir", "jobs"):
            if name in extra:
                raise ValueError(f"Set {name} with --{name.replace('_', '-')}, not -p {name}=...")
        for notebook in selected:
            check_parameters(notebook, extra)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:  # papermill streams cell output through its logger
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("papermill").setLevel(logging.INFO)
    if args.profile == "full":
        _warn_full_without_gpu(selected)
    reports_dir = Path(args.reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for notebook in selected:
        print(f"==> {notebook.stem} (profile {args.profile})", flush=True)
        parameters = {"profile": args.profile, "data_dir": args.data_dir, **extra}
        if args.jobs > 1 and "jobs" in _parameters(notebook):
            parameters["jobs"] = args.jobs
        status, seconds, error = run_notebook(notebook, parameters, reports_dir, log_output=not args.quiet)
        results.append((notebook.stem, status, seconds, error))
        print(f"<== {notebook.stem}: {status} in {seconds:.1f} s" + (f" ({error})" if error else ""), flush=True)
    print(f"\nSummary (profile {args.profile}, reports in {reports_dir}):")
    for name, status, seconds, error in results:
        print(f"  {name:<24} {status:<7} {seconds:8.1f} s" + (f"  {error}" if error else ""))
    failed = sum(status != "ok" for _, status, _, _ in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
