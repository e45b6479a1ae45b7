"""The machine, as seen without Keras: its CPU, its NVIDIA GPUs, its processes, the repository's git state."""

import os
import platform
import shutil
import socket
import subprocess

from lib import paths


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_description():
    """'CPU: <model> (N cores)'."""
    return f"CPU: {cpu_model()} ({os.cpu_count()} cores)"


def nvidia_gpus():
    """Names of the NVIDIA GPUs `nvidia-smi` lists; empty without the tool or a GPU."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        found = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in found.stdout.splitlines() if line.strip()] if found.returncode == 0 else []


def process_alive(pid, host):
    """False when process `pid` of `host` is known to be gone; only this host's processes can be checked."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def git_state():
    """{'commit': sha or None, 'dirty': bool or None} of the repository."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True, timeout=10)

    try:
        commit = git("rev-parse", "HEAD")
        status = git("status", "--porcelain")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if commit.returncode:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
