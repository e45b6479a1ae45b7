"""Does mixed_bfloat16 change Study A Q1's results more than the seed does?

    .venv/bin/python bench/precision.py --epochs 10 --seeds 3

Trains Q1 (quick profile's data: 10,000 training and 2,000 test images) with
each seed in float32 and in mixed_bfloat16, taking turns, from scratch in a
temporary folder. Prints each precision's final test accuracy and loss per
seed, their mean and standard deviation over seeds, the difference of the
means beside that seed-to-seed spread, and the epoch-time ratio.
"""

import argparse
import dataclasses
import os
import tempfile


import numpy as np

from lib.core import backend, config, runs
from lib.studies import a as study_a


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", ""))
    args = parser.parse_args()
    session = runs.setup("quick", args.data_dir)
    results = {precision: [] for precision in config.PRECISIONS}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["HISTORY_DIR"] = os.environ["CHECKPOINT_DIR"] = folder
        for seed in range(args.seeds):
            for precision in config.PRECISIONS:
                run_config = dataclasses.replace(study_a.config(session, seed=seed, epochs=args.epochs), precision=precision)
                results[precision].append(runs.fit_cached(run_config, progress=False).history)
    print(f"Study A Q1, {args.epochs} epochs, seeds 0-{args.seeds - 1}, {backend.device_description()}")
    summary = {}
    for precision, histories in results.items():
        accuracy = np.array([h["final"]["test_accuracy"] for h in histories])
        loss = np.array([h["final"]["test_loss"] for h in histories])
        seconds = np.median([t for h in histories for t in h["epoch_time_s"][1:]])
        summary[precision] = accuracy.mean(), accuracy.std(ddof=1) if len(accuracy) > 1 else float("nan"), seconds
        print(f"{precision:<15} test accuracy {' '.join(f'{a:.4f}' for a in accuracy)}  mean {accuracy.mean():.4f} "
              f"± {summary[precision][1]:.4f} (std over seeds)  test loss {' '.join(f'{v:.4f}' for v in loss)}  "
              f"{seconds:.2f} s/epoch")
    (mean32, std32, time32), (mean16, std16, time16) = summary["float32"], summary["mixed_bfloat16"]
    print(f"mixed_bfloat16 - float32: test accuracy {mean16 - mean32:+.4f} (seed std {std32:.4f} / {std16:.4f}); "
          f"epoch time x{time32 / time16:.2f} faster")


if __name__ == "__main__":
    main()
