"""Training several runs at once: worker processes on this machine, or Ray tasks.

`Pool(jobs)` trains configs `jobs` at a time, each with `runs.fit_cached`:
in worker processes started here, or, when `$RAY_ADDRESS` is set, as Ray
tasks (on the cluster at that address; "local" starts a Ray instance here).
`submit(config)` returns a `concurrent.futures.Future` of the `Run`; when it
resolves the run is in this machine's cache, also when a worker on another
machine trained it (it sends back the history and weights).
"""

import concurrent.futures
import ctypes
import multiprocessing
import os
import signal
import sys

from lib import checks, files, paths

# Left out when a remote Ray cluster receives the repository as its working directory.
_RAY_EXCLUDES = [".git", ".venv", "data", "checkpoints", "histories", "figures", "reports"]
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def uses_workers(jobs):
    """Whether `jobs` runs at a time need a pool (else they train in this process, one after another)."""
    checks.positive_int("jobs", jobs)
    return jobs > 1 or bool(os.environ.get("RAY_ADDRESS"))


class Pool:
    """`jobs` runs at a time in worker processes, or as Ray tasks when `$RAY_ADDRESS` is set.

    Args:
        jobs: runs trained at once.
        threads: CPU threads of each worker process. None (the default) gives
            each worker all the cores, as a run in this process has: the
            thread count decides the order of floating-point sums, so this
            keeps histories bit-identical whatever `jobs` is, and measured as
            fast as splitting the cores (bench/grid_jobs.py).
    """

    def __init__(self, jobs, threads=None):
        checks.positive_int("jobs", jobs)
        self.jobs, self.threads = jobs, threads or os.cpu_count() or 1
        self.ray_address = os.environ.get("RAY_ADDRESS")
        self._executor, self._started_ray = None, False

    def __enter__(self):
        if self.ray_address:
            self._started_ray = _start_ray(self.jobs, remote=self.ray_address != "local")
        else:
            context = multiprocessing.get_context("spawn")  # a fork of a TensorFlow process can hang
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.jobs, mp_context=context, initializer=_start_worker, initargs=(self.threads, os.getpid()))
        return self

    def __exit__(self, *exc_info):
        if self._executor is not None:
            self._executor.shutdown()
        if self._started_ray:
            import ray

            ray.shutdown()

    def submit(self, config):
        """Train `config` in a worker; a Future of its `Run` (in this machine's cache once resolved)."""
        if self._executor is not None:
            return self._executor.submit(_fit_in_process, config)
        import ray

        remote = self.ray_address != "local"
        finished = concurrent.futures.Future()

        def store(task):
            try:
                found, weights = task.result()
                finished.set_result(_store(config, found, weights))
            except BaseException as error:  # the worker's failure, or storing its run
                finished.set_exception(error)

        task = ray.remote(_fit_on_ray).remote(config, None if remote else _shared_folders())
        task.future().add_done_callback(store)
        return finished


def _start_worker(threads, parent):
    # Runs before the worker's first operation, while thread pools can still be sized.
    _die_with(parent)
    from lib.core import backend

    backend.set_threads(threads)
    backend.make_deterministic()


def _die_with(parent):
    # A worker whose parent is killed (kill -9 of the runner, whose kernel then exits) waits on
    # its task queue for ever, holding its memory. Linux can send it SIGKILL when the parent
    # dies; strictly, when the parent's thread that started it ends: the one calling submit.
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _fit_in_process(config):
    from lib.core import runs

    return runs.fit_cached(config, progress=False)


def _shared_folders():
    """Our output folders, for Ray workers on this machine to write into."""
    return {"HISTORY_DIR": str(paths.history_dir()), "CHECKPOINT_DIR": str(paths.checkpoint_dir())}


def _fit_on_ray(config, environment):
    """A Ray task: `runs.fit_cached` like a local run; returns (history, weights bytes).

    `environment` is None on a remote cluster, whose workers read their own
    data directory; else our folders, shared.
    """
    import dataclasses

    from lib.core import runs

    if environment is None:
        config = dataclasses.replace(config, session=runs.setup(config.session.profile))
    else:
        os.environ.update(environment)
        runs.setup(config.session.profile, config.session.data_dir)
    run = runs.fit_cached(config, progress=False)
    return run.history, run.weights_path.read_bytes()


def _store(config, found, weights):
    """Keep a worker's run in this machine's cache (already there when the worker shares our disk); its `Run`."""
    from lib.core import runs

    path = runs.history_path(config)
    if not path.is_file():
        weights_path = paths.checkpoint_dir() / config.study / path.stem / "final.weights.h5"
        with files.atomic_file(weights_path, "wb") as file:
            file.write(weights)
        files.write_json(path, found)
    return runs.fit_cached(config, progress=False)


def _start_ray(jobs, remote):
    """Connect to `$RAY_ADDRESS`, or start a local instance with `jobs` CPUs; True if this call started Ray."""
    import ray

    if ray.is_initialized():
        return False
    if remote:
        # Ship this repository to the cluster's workers; they read their own data directory.
        ray.init(runtime_env={"working_dir": str(paths.ROOT), "excludes": _RAY_EXCLUDES}, log_to_driver=False)
        return True
    options = {"address": "local", "num_cpus": jobs, "include_dashboard": False, "log_to_driver": False}
    try:
        ray.init(**options)
    except Exception as error:  # Ray gives a new node a fixed 30 s to start, which a busy machine can miss
        if "timed out during startup" not in str(error):
            raise
        print(f"warning: the local Ray instance did not start in time ({error}); trying once more.", file=sys.stderr)
        ray.shutdown()
        ray.init(**options)
    return True
