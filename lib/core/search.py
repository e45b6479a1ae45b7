"""Random hyperparameter search with KerasTuner; every trial is a cached run.

`CachedRandomSearch` is a KerasTuner `RandomSearch` whose `run_trial` maps a
trial's hyperparameters to a `runs.RunConfig` and trains it with
`runs.fit_cached`, so each trial lands in `histories/<study>/` like any other
run, and a search that is run again (or continued with more trials) reuses
the finished ones. KerasTuner's oracle state lives under
`checkpoints/<study>/tuner/<project>/` (overwrite=False), so an interrupted
search continues where it stopped.

Trials run one after another in this process, or, with `jobs > 1` or
`$RAY_ADDRESS` set, as Ray tasks: on the cluster at `$RAY_ADDRESS`, else on
a Ray instance started here for the search. Ray workers call the same
trial function (`runs.fit_cached`) and send back the history and weights.
"""

import dataclasses
import hashlib
import json
import os
import sys

import keras_tuner
import pandas as pd

from keras_tuner.engine.trial import TrialStatus

from lib import checks, files, paths
from lib.core import runs

# Left out when a remote Ray cluster receives the repository as its working directory.
_RAY_EXCLUDES = [".git", ".venv", "data", "checkpoints", "histories", "figures", "reports"]


def hyperparameters(space):
    """A KerasTuner search space: one unordered `Choice` per entry of `space` (name -> values)."""
    found = keras_tuner.HyperParameters()
    for name, values in space.items():
        if not values:
            raise ValueError(f"Hyperparameter {name!r} has no values. Expected a non-empty tuple of choices.")
        found.Choice(name, list(values), ordered=False)
    return found


class CachedRandomSearch(keras_tuner.RandomSearch):
    """KerasTuner random search over `space` whose trials are `runs.fit_cached` runs.

    Args:
        space: dict hyperparameter name -> tuple of allowed values.
        make_config: function mapping a dict of sampled values to a `RunConfig`.
        objective: (name, direction): the metric `score` computes and
            "max" or "min".
        score: function mapping a history to the objective value.
        max_trials: number of trials.
        seed: a non-negative integer; the same seed gives the same trial sequence.
        project: name of the tuner's folder under `checkpoints/<study>/tuner/`.
    """

    def __init__(self, space, make_config, objective, score, max_trials, seed, project):
        checks.positive_int("max_trials", max_trials)
        name, direction = objective
        if direction not in ("max", "min"):
            raise ValueError(f"Unknown objective direction: {direction!r}. Expected one of ('max', 'min').")
        self.space, self.make_config, self.score, self.objective_name = dict(space), make_config, score, name
        self.example = make_config({key: values[0] for key, values in space.items()})  # for the data and the study
        self.study = self.example.study
        super().__init__(
            objective=keras_tuner.Objective(name, direction), max_trials=max_trials, seed=oracle_seed(seed),
            hyperparameters=hyperparameters(space), tune_new_entries=False, allow_new_entries=False,
            directory=str(paths.checkpoint_dir() / self.study / "tuner"), project_name=project, overwrite=False,
        )

    def run_trial(self, trial, *args, **kwargs):
        """Train (or read from the cache) the trial's run; return its objective."""
        try:
            run = runs.fit_cached(self.make_config(trial.hyperparameters.values), progress=False)
        except Exception as error:  # a bug, not a bad trial: stop the search rather than record a failure
            raise keras_tuner.errors.FatalError(f"Trial {trial.trial_id} failed: {type(error).__name__}: {error}") from error
        return self._report(trial, run)

    def _report(self, trial, run):
        value = self.score(run.history)
        status = "" if run.history["status"] == "complete" else f" ({run.history['status']})"
        print(f"trial {trial.trial_id}: {self.objective_name} {value:.4g}{status} in {run.history['wall_time_s']:.0f} s "
              f"{trial.hyperparameters.values}", flush=True)
        return {self.objective_name: value}

    def search(self, jobs=1):
        """Run the remaining trials: here, or as Ray tasks when `jobs > 1` or `$RAY_ADDRESS` is set.

        Args:
            jobs: trials trained at once (Ray tasks in flight).
        """
        checks.positive_int("jobs", jobs)
        if jobs == 1 and not os.environ.get("RAY_ADDRESS"):
            super().search(verbose=0)
        else:
            self._search_on_ray(jobs)

    def _search_on_ray(self, jobs):
        import ray

        started = _start_ray(jobs)
        self.oracle.verbose = 0
        fit = ray.remote(_fit_on_worker)
        in_flight, free_slots, stopped = {}, list(range(jobs)), False
        try:
            while True:
                while free_slots and not stopped:
                    slot = free_slots.pop()
                    # One KerasTuner tuner id per slot: the oracle's protocol for parallel workers.
                    trial = self.oracle.create_trial(f"ray{slot}")
                    if trial.status != TrialStatus.RUNNING:
                        stopped = True
                        free_slots.append(slot)
                        break
                    config = self.make_config(trial.hyperparameters.values)
                    in_flight[fit.remote(config, _worker_environment())] = (slot, trial, config)
                if not in_flight:
                    break
                [done], _ = ray.wait(list(in_flight), num_returns=1)
                slot, trial, config = in_flight.pop(done)
                free_slots.append(slot)
                _store(config, *ray.get(done))
                self.oracle.update_trial(trial.trial_id, self._report(trial, runs.fit_cached(config, progress=False)))
                trial.status = TrialStatus.COMPLETED
                self.oracle.end_trial(trial)
                self.save()
        finally:
            if started:
                ray.shutdown()

    def trial_runs(self):
        """{trial id: `Run`} of the finished trials, in trial order (cached runs; a missing one is trained)."""
        finished = [trial for trial in self.oracle.trials.values() if trial.status == TrialStatus.COMPLETED]
        return {trial.trial_id: runs.fit_cached(self.make_config(trial.hyperparameters.values), progress=False)
                for trial in sorted(finished, key=lambda trial: trial.trial_id)}

    def trial_table(self):
        """One row per finished trial: its hyperparameters, objective, status, epochs and time.

        Returns:
            pandas DataFrame indexed by trial id, best objective first.
        """
        rows = {}
        for trial_id, run in self.trial_runs().items():
            h = run.history
            rows[trial_id] = {**{name: h["config"]["model_kwargs"].get(name, h["config"].get(name)) for name in self.space},
                              self.objective_name: self.score(h), "status": h["status"], "epochs": len(h["epoch"]),
                              "wall_time_s": h["wall_time_s"], "run": run.history_path.stem}
        frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("trial")
        return frame.sort_values(self.objective_name, ascending=self.oracle.objective.direction == "min", kind="stable")

    def best_run(self):
        """The `Run` of KerasTuner's best trial."""
        best = self.oracle.get_best_trials(1)
        if not best:
            raise RuntimeError(f"No finished trial in {self.project_dir}: run search() first.")
        return runs.fit_cached(self.make_config(best[0].hyperparameters.values), progress=False)


def oracle_seed(seed):
    """KerasTuner's seed for our `seed` (0, 1, ...).

    KerasTuner takes seed 0 for "no seed" (a random one), and samples the
    k-th value of a search with `random.Random(seed + k)`, so seeds 0, 1, 2
    would replay each other's values shifted by one. Spacing them a million
    apart keeps the sequences of different seeds unrelated.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"Invalid value for `seed`. Received: seed={seed!r}. Expected a non-negative integer.")
    return 1 + 1_000_003 * seed


def project_name(label, space, seed, example):
    """A tuner folder name that changes whenever a finished trial could mean something else.

    It hashes the search space, the seed and the run key of `example` (a
    config of the search: its key covers epochs, data, code and Keras), but
    not the number of trials, so asking for more trials continues a search.
    """
    payload = json.dumps({"space": space, "seed": seed, "key": example.key()}, sort_keys=True, default=str)
    return f"{label}_{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def _start_ray(jobs):
    """Connect to `$RAY_ADDRESS`, or start a local instance with `jobs` CPUs; True if this call started Ray."""
    import ray

    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        # Ship this repository to the cluster's workers; they read their own data directory.
        ray.init(runtime_env={"working_dir": str(paths.ROOT), "excludes": _RAY_EXCLUDES}, log_to_driver=False)
        return True
    options = {"num_cpus": jobs, "include_dashboard": False, "log_to_driver": False,
               "runtime_env": {"env_vars": {"PYTHONPATH": str(paths.ROOT)}}}
    try:
        ray.init(**options)
    except Exception as error:  # Ray gives a new node a fixed 30 s to start, which a busy machine can miss
        if "timed out during startup" not in str(error):
            raise
        print(f"warning: the local Ray instance did not start in time ({error}); trying once more.", file=sys.stderr)
        ray.shutdown()
        ray.init(**options)
    return True


def _worker_environment():
    """None on a remote cluster (its workers read their own data directory); else our output folders, to share."""
    if os.environ.get("RAY_ADDRESS"):
        return None
    return {"HISTORY_DIR": str(paths.history_dir()), "CHECKPOINT_DIR": str(paths.checkpoint_dir())}


def _fit_on_worker(config, environment):
    """A Ray task: the same `runs.fit_cached` as a local trial; returns (history, weights bytes)."""
    if environment is None:
        config = dataclasses.replace(config, session=runs.setup(config.session.profile))
    else:
        os.environ.update(environment)
        runs.setup(config.session.profile, config.session.data_dir)
    run = runs.fit_cached(config, progress=False)
    return run.history, run.weights_path.read_bytes()


def _store(config, found, weights):
    """Keep a worker's run in this machine's cache (already there when the worker shares our disk)."""
    path = runs.history_path(config)
    if path.is_file():
        return
    weights_path = paths.checkpoint_dir() / config.study / path.stem / "final.weights.h5"
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_file(weights_path, "wb") as file:
        file.write(weights)
    files.write_json(path, found)
