"""examples/ray_score.py on tiny shards: the batch Ray Data chooses shard by shard equals
tdal.select on the concatenated pool. Skipped when ray is not installed (CI does not
install it: `pip install "ray[data]"` to run it)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tdal
from conftest import random_probs

ray = pytest.importorskip(
    "ray", reason="ray is not installed: pip install 'ray[data]' to test examples/ray_score.py"
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ray_score.py"


def load_example():
    spec = importlib.util.spec_from_file_location("ray_score", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("strategy", ["power", "softmax", "topk"])
def test_the_ray_batch_is_the_whole_pool_batch(local_ray, tmp_path, strategy):
    rng = np.random.default_rng(0)
    sizes = [40, 3, 57, 25, 75]
    shards = [random_probs(rng, (n, 8, 3)) for n in sizes]
    for i, shard in enumerate(shards):
        np.save(tmp_path / f"part-{i}.npy", shard)
    targets = random_probs(rng, (6, 8, 3))
    example = load_example()
    batch, timings = example.ray_batch(
        tmp_path, targets, 12, strategy=strategy, beta=4.0, seed=3, cpus_per_task=1
    )
    scores = tdal.score(np.concatenate(shards), "epig", targets)
    assert batch.tolist() == tdal.select(scores, 12, strategy, beta=4.0, seed=3).tolist()
    assert timings["shards"] == len(sizes) and timings["n"] == sum(sizes)
