"""Refit scikit-learn's RandomForestClassifier on exactly the labelled sets a tdal run saw
and compare its test accuracies with the ones the run recorded.

Inputs: a folder written by `cargo run --release -p tdal-loop --example export_task` for
the run's seed (labels, initial indices, US VAE embeddings) and the run folders
(`rounds.jsonl`) of the US rows of that seed. For rounds 0, 10, 25 and the last one it
fits 250-tree forests (scikit-learn defaults, as SPEC §5 asks of tdal's forest) with five
random states on the labelled embeddings and scores the test embeddings with the three
metrics of SPEC §3. Prints a markdown table.

    python3 docs/results/check_forest.py EXPORT_DIR RUN_DIR [RUN_DIR ...]

Needs numpy and scikit-learn.
"""

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier


def accuracies(probs, labels):
    targets = labels >= 1
    primary = (probs.argmax(1)[targets] == labels[targets]).mean()
    targets_only = (probs[:, 1:].argmax(1)[targets] + 1 == labels[targets]).mean()
    balanced = (probs.argmax(1) == labels).mean()
    return primary, targets_only, balanced


def main():
    export, runs = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    pool_labels = np.load(export / "pool_labels.npy").astype(np.int64)
    test_labels = np.load(export / "test_labels.npy").astype(np.int64)
    initial = np.load(export / "initial.npy").astype(np.int64).tolist()
    z_pool, z_test = np.load(export / "z_pool.npy"), np.load(export / "z_test.npy")
    n_classes = int(max(pool_labels.max(), test_labels.max())) + 1
    print("| run | round | labels | target labels | tdal primary / targets-only / balanced "
          "| scikit-learn (mean ± sd of 5 forests) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in runs:
        records = [json.loads(line) for line in open(run / "rounds.jsonl")]
        keep = {0, 10, 25, records[-1]["round"]}
        labelled = list(initial)
        for record in records:
            if record["round"] in keep:
                idx = np.array(labelled, dtype=np.int64)
                assert len(idx) == record["n_labelled"], "records and export disagree"
                ours = record["accuracy"]
                # null with a single target class (tdal records no targets-only accuracy)
                ours_targets = ("n/a" if ours["targets_only"] is None
                                else f"{ours['targets_only'] * 100:.1f}")
                theirs = []
                for state in range(5):
                    forest = RandomForestClassifier(250, random_state=state, n_jobs=1)
                    forest.fit(z_pool[idx], pool_labels[idx])
                    probs = np.zeros((len(test_labels), n_classes))
                    probs[:, forest.classes_] = forest.predict_proba(z_test)
                    theirs.append(accuracies(probs, test_labels))
                mean, sd = np.mean(theirs, 0) * 100, np.std(theirs, 0) * 100
                print(f"| {run.name} | {record['round']} | {len(idx)} | "
                      f"{int((pool_labels[idx] > 0).sum())} | "
                      f"{ours['primary'] * 100:.1f} / {ours_targets} / "
                      f"{ours['balanced'] * 100:.1f} | "
                      f"{mean[0]:.1f} ± {sd[0]:.1f} / {mean[1]:.1f} ± {sd[1]:.1f} / "
                      f"{mean[2]:.1f} ± {sd[2]:.1f} |")
            labelled += [a["index"] for a in record["acquired"]]


if __name__ == "__main__":
    main()
