"""Expected primary accuracy of uniform labelling on one representation: draw N times
494 pool points uniformly (plus the run's 6 initial labels), fit scikit-learn's
RandomForestClassifier(250) on their US VAE embeddings, a 10-dim PCA of the pixels and
the raw pixels, and print mean ± s.e. of the primary accuracy (SPEC §3) on the test set.
For comparison it also prints what each representation gives with *every* pool label
(a 10-nearest-neighbour classifier fitted on the whole pool): how much of the digits'
separation the representation holds at all. Without `--images` in the export only the
US VAE embeddings are scored.

    cargo run --release -p tdal-loop --example export_task -- RUN/config.toml DATA_DIR CACHE_DIR EXPORT [--images]
    python3 docs/results/random_draws.py EXPORT [N]

Needs numpy and scikit-learn. docs/REPRODUCING.md quotes N = 10 on seeds 0-2's exports.
"""

import os
import sys

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier


def main():
    d, n_draws = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    pool_labels = np.load(f"{d}/pool_labels.npy").astype(np.int64)
    test_labels = np.load(f"{d}/test_labels.npy").astype(np.int64)
    initial = np.load(f"{d}/initial.npy").astype(np.int64)
    n = len(pool_labels)
    representations = {"US VAE z": (np.load(f"{d}/z_pool.npy"), np.load(f"{d}/z_test.npy"))}
    if os.path.exists(f"{d}/x_pool.npy"):
        x_pool = np.load(f"{d}/x_pool.npy", mmap_mode="r").reshape(n, -1)
        x_test = np.load(f"{d}/x_test.npy").reshape(len(test_labels), -1)
        pca = PCA(10, random_state=0).fit(x_pool[::5])
        representations["PCA-10 of pixels"] = (pca.transform(x_pool), pca.transform(x_test))
        representations["pixels"] = (np.asarray(x_pool), x_test)
    rng = np.random.default_rng(0)
    rest = np.setdiff1d(np.arange(n), initial)
    draws = [np.concatenate([initial, rng.choice(rest, 494, replace=False)]) for _ in range(n_draws)]
    targets = test_labels >= 1
    n_classes = int(max(pool_labels.max(), test_labels.max())) + 1
    for name, (z_pool, z_test) in representations.items():
        primary, target_labels = [], []
        for idx in draws:
            forest = RandomForestClassifier(250, random_state=0, n_jobs=1).fit(z_pool[idx], pool_labels[idx])
            probs = np.zeros((len(test_labels), n_classes))
            probs[:, forest.classes_] = forest.predict_proba(z_test)
            primary.append((probs.argmax(1)[targets] == test_labels[targets]).mean())
            target_labels.append((pool_labels[idx] > 0).sum())
        knn = KNeighborsClassifier(10).fit(z_pool, pool_labels).predict(z_test)
        every = (knn[targets] == test_labels[targets]).mean()
        print(f"{name}: primary {100 * np.mean(primary):.1f} ± {100 * np.std(primary) / np.sqrt(n_draws):.1f} % "
              f"({n_draws} draws, {np.mean(target_labels):.1f} target labels on average); "
              f"10-NN on every pool label {100 * every:.1f} %", flush=True)


if __name__ == "__main__":
    main()
