"""Scores a pool in `.npy` shards with Ray Data and chooses the batch tdal.select would
choose from the whole pool, without gathering the scores.

    python ray_score.py --pool DIR --targets T.npy --batch-size 10 --seed 0

Each shard is one row of a Ray dataset, (path, global offset of its first input). A task
scores its shard with tdal.score (memory-mapped, block by block), turns the scores into
selection keys with tdal.perturbed_keys at the shard's offset, and returns only its best
batch_size (index, key) pairs; the driver merges them with tdal.top_b. The keys of input i
depend only on (seed, i, score_i), so the batch is the single-machine batch whatever the
shard boundaries and the order in which Ray runs the tasks. Soft-rank needs every score's
rank in the whole pool and is not possible this way (tdal.perturbed_keys refuses it).

Needs `pip install "ray[data]" numpy` and the tdal wheel (crates/tdal-py).
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import ray

import tdal


def shard_rows(pool):
    """(path, offset, n) of every shard: the folder's *.npy files sorted by file name,
    the order in which `tdal score --pool DIR` concatenates them."""
    rows, offset = [], 0
    for path in sorted(Path(pool).glob("*.npy"), key=lambda p: p.name):
        n = np.load(path, mmap_mode="r").shape[0]  # reads the header only
        rows.append({"path": str(path), "offset": offset, "n": n})
        offset += n
    if not rows:
        raise SystemExit(f"{pool} holds no .npy file")
    return rows


def best_of_shards(rows, *, targets, method, strategy, beta, seed, batch_size):
    """map_batches: for each shard of the Ray batch, its best batch_size (index, key)
    pairs (global indices)."""
    indices, keys, seconds = [], [], []
    for path, offset in zip(rows["path"], rows["offset"]):
        started = time.perf_counter()
        offset = int(offset)
        scores = tdal.score(str(path), method, targets, seed=seed, offset=offset)
        shard_keys = tdal.perturbed_keys(scores, strategy, beta, seed, offset=offset)
        index, key = tdal.top_b(offset + np.arange(len(scores)), shard_keys, batch_size)
        indices.append(index)
        keys.append(key)
        seconds.append(np.full(len(index), time.perf_counter() - started))
    return {
        "index": np.concatenate(indices),
        "key": np.concatenate(keys),
        "shard_seconds": np.concatenate(seconds),
    }


def ray_batch(pool, targets, batch_size, *, method="epig", strategy="power", beta=4.0,
              seed=0, cpus_per_task=None):
    """The batch (int64 [batch_size], selection order) and per-stage timings."""
    timings = {}
    started = time.perf_counter()
    rows = shard_rows(pool)
    if sum(row["n"] for row in rows) < batch_size:
        raise SystemExit(f"the pool holds fewer than {batch_size} inputs")
    # One row per shard, one block per row: Ray may run every shard in its own task.
    dataset = ray.data.from_items(
        [{"path": row["path"], "offset": row["offset"]} for row in rows],
        override_num_blocks=len(rows),
    )
    candidates = dataset.map_batches(
        best_of_shards,
        batch_size=1,
        batch_format="numpy",
        num_cpus=cpus_per_task or os.cpu_count(),
        fn_kwargs={
            "targets": targets, "method": method, "strategy": strategy,
            "beta": beta, "seed": seed, "batch_size": batch_size,
        },
    ).take_all()
    timings["ray_seconds"] = time.perf_counter() - started
    merge_started = time.perf_counter()
    batch, _ = tdal.top_b(
        np.array([row["index"] for row in candidates], dtype=np.int64),
        np.array([row["key"] for row in candidates], dtype=np.float64),
        batch_size,
    )
    timings["merge_seconds"] = time.perf_counter() - merge_started
    timings["shard_seconds"] = sorted({float(row["shard_seconds"]) for row in candidates})
    timings["shards"] = len(rows)
    timings["n"] = sum(row["n"] for row in rows)
    return batch, timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", required=True, help="folder of .npy shards [N_i, K, C]")
    parser.add_argument("--targets", help="target-input samples [M, K, C] (EPIG)")
    parser.add_argument("--method", default="epig")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--strategy", default="power", choices=["topk", "power", "softmax"])
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count(),
                        help="CPUs of the local Ray instance")
    parser.add_argument("--cpus-per-task", type=int, default=None,
                        help="CPUs each shard's task reserves, and tdal's threads in it "
                             "(default: all, one shard at a time per machine)")
    args = parser.parse_args()

    targets = np.load(args.targets) if args.targets else None
    threads = args.cpus_per_task or args.num_cpus
    started = time.perf_counter()
    ray.init(
        num_cpus=args.num_cpus,
        include_dashboard=False,
        # tdal's thread pool in each worker uses the CPUs its task reserved.
        runtime_env={"env_vars": {"RAYON_NUM_THREADS": str(threads)}},
    )
    init_seconds = time.perf_counter() - started
    batch, timings = ray_batch(
        args.pool, targets, args.batch_size, method=args.method, strategy=args.strategy,
        beta=args.beta, seed=args.seed, cpus_per_task=threads,
    )
    total = time.perf_counter() - started
    print("batch:", " ".join(map(str, batch.tolist())))
    print(
        f"n={timings['n']} shards={timings['shards']} ray.init={init_seconds:.2f}s "
        f"dataset+tasks={timings['ray_seconds']:.2f}s merge={timings['merge_seconds'] * 1e3:.2f}ms "
        f"total={total:.2f}s per-shard task="
        + ",".join(f"{s:.2f}s" for s in timings["shard_seconds"])
    )
    ray.shutdown()


if __name__ == "__main__":
    main()
