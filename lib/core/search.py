"""Random hyperparameter search with KerasTuner; every trial is a cached run.

`CachedRandomSearch` is a KerasTuner `RandomSearch` whose `run_trial` maps a
trial's hyperparameters to a `runs.RunConfig` and trains it with
`runs.fit_cached`, so each trial lands in `histories/<study>/` like any other
run, and a search that is run again (or continued with more trials) reuses
the finished ones. KerasTuner's oracle state lives under
`checkpoints/<study>/tuner/<project>/` (overwrite=False), so an interrupted
search continues where it stopped.

Trials run one after another in this process, or `jobs` at a time in a
`pool.Pool`: worker processes here, or Ray tasks when `$RAY_ADDRESS` is set
(a cluster, or "local" for a Ray instance started here). Workers call the
same trial function (`runs.fit_cached`).
"""

import concurrent.futures
import hashlib
import json

import keras_tuner
import pandas as pd

from keras_tuner.engine.trial import TrialStatus

from lib import checks, paths
from lib.core import pool, runs


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
        """Run the remaining trials: here, or `jobs` at a time in a `pool.Pool` (worker processes, or Ray with `$RAY_ADDRESS`).

        Args:
            jobs: trials trained at once.
        """
        if not pool.uses_workers(jobs):
            super().search(verbose=0)
            return
        self.oracle.verbose = 0
        in_flight, free_slots, stopped = {}, list(range(jobs)), False
        with pool.Pool(jobs) as workers:
            while True:
                while free_slots and not stopped:
                    slot = free_slots.pop()
                    # One KerasTuner tuner id per slot: the oracle's protocol for parallel workers.
                    trial = self.oracle.create_trial(f"worker{slot}")
                    if trial.status != TrialStatus.RUNNING:
                        stopped = True
                        free_slots.append(slot)
                        break
                    in_flight[workers.submit(self.make_config(trial.hyperparameters.values))] = (slot, trial)
                if not in_flight:
                    break
                done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    slot, trial = in_flight.pop(future)
                    free_slots.append(slot)
                    self.oracle.update_trial(trial.trial_id, self._report(trial, future.result()))
                    trial.status = TrialStatus.COMPLETED
                    self.oracle.end_trial(trial)
                    self.save()

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
