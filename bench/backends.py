"""Study A Q1 epoch time per Keras backend: TensorFlow, JAX, PyTorch, side by side.

    .venv-backends/bin/python bench/backends.py --epochs 3 --rounds 1

Needs an environment with all three backends (`make test-backends` builds
`.venv-backends`). Trains Q1 with our training (`bench/q1_epoch.py`, float32)
in a fresh process per backend, the backends taking turns round after round,
and prints each one's epoch time relative to TensorFlow's.
"""

import argparse

from q1_epoch import combine, measure_in_subprocess, report

BACKENDS = ("tensorflow", "jax", "torch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    args = parser.parse_args()
    measured = {backend: [] for backend in args.backends}
    for _ in range(args.rounds):
        for backend in args.backends:
            figures = measure_in_subprocess(["--settings", "ours", "--epochs", str(args.epochs), "--rounds", "1"],
                                            env={"KERAS_BACKEND": backend})
            measured[backend].append(figures["ours"])
    print(f"Study A Q1, our training (float32), {args.epochs} epochs x {args.rounds} rounds per backend")
    report({backend: combine(results) for backend, results in measured.items()})


if __name__ == "__main__":
    main()
