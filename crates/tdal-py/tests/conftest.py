"""Shared helpers of the `tdal` Python tests: the bundled EPIG example, the numpy reference
formulas of fixtures/epig-example/reference.py, random posterior samples, and the `tdal`
command-line binary when one has been built."""

import importlib.util
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "fixtures" / "epig-example"


def _load_reference():
    spec = importlib.util.spec_from_file_location("epig_reference", EXAMPLE / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load_reference()


def reference_scores(pool, targets=None):
    """Every method's scores by the formulas of reference.py (float64, one broadcast
    product over all (pool, target) pairs, its `entropy`)."""
    entropy = reference.entropy
    pool = np.asarray(pool, dtype=np.float64)
    mean_pool = pool.mean(axis=1)
    scores = {
        "bald": entropy(mean_pool) - entropy(pool).mean(axis=1),
        "entropy": entropy(mean_pool),
        "confidence": 1.0 - mean_pool.max(axis=1),
        "margin": 1.0 - np.diff(np.sort(mean_pool, axis=1)[:, -2:], axis=1)[:, 0],
    }
    if targets is not None:
        targ = np.asarray(targets, dtype=np.float64)
        joint = np.einsum("nkc,mkd->nmcd", pool, targ) / pool.shape[1]
        n, m, c, _ = joint.shape
        h_joint = entropy(joint.reshape(n, m, c * c))
        epig = entropy(mean_pool)[:, None] + entropy(targ.mean(axis=1))[None, :] - h_joint
        scores["epig"] = epig.mean(axis=1)
    return scores


def random_probs(rng, shape, alpha=0.5, dtype=np.float32):
    """Posterior samples drawn from a Dirichlet(alpha) per row, rows summing to 1 in
    `dtype`."""
    n, k, c = shape
    probs = rng.dirichlet(np.full(c, alpha), size=(n, k))
    return probs.astype(dtype)


@pytest.fixture(scope="session")
def example():
    """The bundled EPIG example: pool [1000, 50, 3] and targets [100, 50, 3], float32."""
    return np.load(EXAMPLE / "pool.npy"), np.load(EXAMPLE / "targets.npy")


def cli_binary():
    """The `tdal` binary to compare with: $TDAL_CLI, else a build in the cargo target
    folder ($CARGO_TARGET_DIR or the repository's target/), else one on PATH; None when
    there is none."""
    if os.environ.get("TDAL_CLI"):
        return os.environ["TDAL_CLI"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("release", "debug"):
        candidate = target / profile / "tdal"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("tdal")


@pytest.fixture(scope="session")
def cli():
    """Runs the `tdal` command line and returns its standard output; skips the test
    when no binary was built (CI builds one with `cargo test --workspace`)."""
    binary = cli_binary()
    if binary is None:
        pytest.skip("no tdal binary: build it with `cargo build -p tdal-cli` or set TDAL_CLI")

    def run(*args):
        done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def other_threads_ran_during(calls, min_seconds=0.15):
    """Whether a Python thread made progress in the middle half of a call (impossible if
    the call held the GIL throughout). `calls` are ever larger versions of the call: the
    first that lasts `min_seconds` is the one judged, so the test stays meaningful however
    fast the call becomes."""
    for call in calls:
        stamps, stop = [], threading.Event()

        def tick():
            while not stop.is_set():
                stamps.append(time.perf_counter())
                time.sleep(0.001)

        thread = threading.Thread(target=tick)
        thread.start()
        time.sleep(0.02)
        start = time.perf_counter()
        call()
        end = time.perf_counter()
        stop.set()
        thread.join()
        if end - start >= min_seconds:
            quarter = (end - start) / 4
            return any(start + quarter < t < end - quarter for t in stamps)
    raise AssertionError(f"the largest call took {end - start:.3f} s: too short to tell")
