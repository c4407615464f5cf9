#!/usr/bin/env python3
"""The yardstick for docs/PERFORMANCE.md: EPIG / BALD / entropy computed the way the EPIG
authors' code does (github.com/fbickfordsmith/epig: one product over every (pool, target)
pair, then xlogy entropies), in numpy float32, on the same sizes as the criterion benches.

    OPENBLAS_NUM_THREADS=2 python3 benches/reference/epig_numpy.py      # needs numpy

Prints best-of-3 warm wall times and the peak memory numpy allocated (tracemalloc).
"""
import time
import tracemalloc

import numpy as np

K, C, M = 100, 3, 500


def probs(rng, n):
    p = rng.random((n, K, C), dtype=np.float32) + 1e-3
    return p / p.sum(axis=-1, keepdims=True)


def xlogx(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(p)
        out *= p
    return np.nan_to_num(out, copy=False, nan=0.0)  # 0 · log 0 = 0


def entropy(p, axis=-1):
    return -np.sum(xlogx(p), axis=axis)


def epig(pool, targ):
    n, k, c = pool.shape
    m = targ.shape[0]
    a = pool.transpose(0, 2, 1).reshape(n * c, k)
    b = targ.transpose(1, 0, 2).reshape(k, m * c)
    joint = a @ b  # [N·C, M·C]
    joint /= k
    h_joint = -xlogx(joint).reshape(n, c, m, c).sum(axis=(1, 3))  # [N, M]
    return entropy(pool.mean(1))[:, None] + entropy(targ.mean(1))[None, :] - h_joint


def bald(pool):
    return entropy(pool.mean(1)) - entropy(pool).mean(1)


def measure(name, f):
    f()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{name:<14} {best:8.4f} s   peak {peak / 2**20:8.1f} MiB")


def main():
    rng = np.random.default_rng(0)
    targ = probs(rng, M)
    for n in (1_000, 10_000, 60_000):
        pool = probs(rng, n)
        measure(f"epig N={n}", lambda: epig(pool, targ).mean(1))
    pool = probs(rng, 60_000)
    measure("bald N=60000", lambda: bald(pool))
    measure("entropy N=60000", lambda: entropy(pool.mean(1)))


if __name__ == "__main__":
    main()
