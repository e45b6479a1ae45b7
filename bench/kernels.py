"""Float32 against bfloat16 kernels, and what Study A Q1's convolutions reach of the matmul rate.

    .venv/bin/python bench/kernels.py

Times, with `keras.ops` on the current backend, a 2048x2048 matrix product
and the forward pass of Study A's two convolutions on a batch of 128 (C1 9x9
3->50 on 32x32 images, C2 5x5 50->60 on 12x12 maps), each in float32 and in
bfloat16, and prints GFLOP/s and the bfloat16 / float32 speed ratio. Each
figure is the fastest of `--repeats` rounds of `--count` calls.
"""

import argparse
import time



from lib.core.backend import keras  # first: Keras without TensorFlow's start-up chatter
from lib.core import backend

ops = keras.ops

# name: (left operand shape, right operand shape, operation, floating-point operations per call)
KERNELS = {
    "matmul 2048x2048": ((2048, 2048), (2048, 2048), ops.matmul, 2 * 2048**3),
    "C1 conv 9x9 3->50": ((128, 32, 32, 3), (9, 9, 3, 50), ops.conv, 2 * 128 * 24 * 24 * 50 * 9 * 9 * 3),
    "C2 conv 5x5 50->60": ((128, 12, 12, 50), (5, 5, 50, 60), ops.conv, 2 * 128 * 8 * 8 * 60 * 5 * 5 * 50),
}


def seconds_per_call(operation, left, right, count, repeats):
    operation(left, right)  # warm-up: picks and compiles the kernel
    fastest = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(count):
            result = operation(left, right)
        ops.convert_to_numpy(ops.cast(ops.sum(result), "float32"))  # waits for asynchronous backends
        fastest = min(fastest, (time.perf_counter() - start) / count)
    return fastest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20, help="calls per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the fastest counts")
    args = parser.parse_args()
    print(f"backend {keras.backend.backend()}, {backend.device_description()}, fastest of {args.repeats} x {args.count} calls")
    generator = keras.random.SeedGenerator(0)
    for name, (left_shape, right_shape, operation, flops) in KERNELS.items():
        rates = {}
        for dtype in ("float32", "bfloat16"):
            left = ops.cast(keras.random.normal(left_shape, seed=generator), dtype)
            right = ops.cast(keras.random.normal(right_shape, seed=generator), dtype)
            rates[dtype] = flops / seconds_per_call(operation, left, right, args.count, args.repeats) / 1e9
        print(f"{name:<20} float32 {rates['float32']:6.0f} GFLOP/s   bfloat16 {rates['bfloat16']:6.0f} GFLOP/s   "
              f"bfloat16 x{rates['bfloat16'] / rates['float32']:.2f}", flush=True)


if __name__ == "__main__":
    main()
