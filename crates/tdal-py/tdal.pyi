"""Type stubs of the `tdal` extension module (tdal's acquisition scores, batch selection
and random forest). Arrays of posterior predictive samples are [N, K, C]: N inputs, K
posterior samples, C classes, every row [n, k, :] summing to 1. A pool may also be given
as `.npy` files (a path, a folder of shards, or a list of them), read block by block.

float32 numpy arrays are read in place whatever their strides; float64 and other real
dtypes (and nested sequences) are converted once to float32, except acquisition scores,
which are read as `tdal select` reads a score file (see `select`). Errors of tdal's checks
are raised as ValueError with tdal's message; a dtype that is not real numbers is a
TypeError.
"""

import os
from typing import Literal, Optional, Sequence, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__all__ = ["__version__", "score", "select", "perturbed_keys", "top_b", "RandomForest"]
__version__: str

_Method = Literal["epig", "bald", "entropy", "confidence", "margin", "random"]
_Strategy = Literal["topk", "power", "softmax", "softrank"]
_PathLike = Union[str, "os.PathLike[str]"]

def score(
    pool: Union[npt.ArrayLike, _PathLike, Sequence[_PathLike]],
    method: _Method = "epig",
    targets: Union[npt.ArrayLike, _PathLike, Sequence[_PathLike], None] = None,
    memory_budget_mib: int = 512,
    seed: int = 0,
    renormalise: bool = False,
    offset: int = 0,
    block_inputs: Optional[int] = None,
) -> npt.NDArray[np.float32]:
    """Acquisition scores of posterior predictive samples, as `tdal score`.

    Args:
        pool: posterior predictive samples [N, K, C]: an array, or `.npy` files as
            `tdal score --pool` reads them (a file, a folder whose *.npy files sorted by
            name are the shards, or a list of those, concatenated in order), memory-mapped
            and scored block by block with bounded memory.
        method: "epig", "bald", "entropy", "confidence", "margin" or "random".
        targets: EPIG only (ignored by the other methods): target-input samples
            [M, K, C] from the same K posterior samples, in the same order: an array, or
            `.npy` files given as the pool's are (as `tdal score --targets` reads its
            file), read whole into memory.
        memory_budget_mib: cap on EPIG's working memory in MiB (independent of N).
        seed: seed of method "random", 0 ≤ seed < 2**64.
        renormalise: rescale rows to sum to 1 (on a copy) instead of rejecting them.
        offset: global index of the pool's first input when it is part of a larger
            pool (`tdal score --offset`): random scores are the larger pool's.
        block_inputs: inputs per block when reading files (default: 64 MiB of samples).

    Returns:
        float32 [N]; higher means more worth labelling (information measures in nats).

    Raises:
        ValueError: invalid probabilities or shapes, K/C differing between pool and
            targets or between shards, an unknown method, EPIG without targets, a
            missing file, a folder without .npy files, a file that is not [N, K, C]
            (pool) or [M, K, C] (targets).
        TypeError: a dtype that is not real numbers.
    """

def select(
    scores: npt.ArrayLike,
    batch_size: int,
    strategy: _Strategy = "power",
    beta: float = 4.0,
    seed: int = 0,
) -> npt.NDArray[np.int64]:
    """A batch of pool indices from acquisition scores, as `tdal select` with the same
    seed (Gumbel-top-k over a ChaCha8 stream).

    Args:
        scores: acquisition scores [N], read as `tdal select` reads a score file:
            float32 as it is; float64 (other real dtypes: converted to float64) compared
            at float64 by "topk" (near-ties order as numpy sorts them), converted to
            float32 by the stochastic strategies, which compute in float32 (a finite
            score beyond float32's range is then a ValueError: rescale the scores).
        batch_size: 1 ≤ batch_size ≤ N.
        strategy: "topk", "power" (∝ score^beta), "softmax" (∝ exp(beta·score)) or
            "softrank" (∝ rank^-beta).
        beta: coldness of the stochastic strategies, ≥ 0.
        seed: seed of the stochastic strategies, 0 ≤ seed < 2**64.

    Returns:
        int64 [batch_size], distinct 0-based indices in the order drawn.

    Raises:
        ValueError: batch_size outside 1..=N, a non-finite score, a float64 score
            beyond float32's range for a stochastic strategy, a negative beta, scores
            that are not one-dimensional, an unknown strategy.
    """

def perturbed_keys(
    scores: npt.ArrayLike,
    strategy: _Strategy = "power",
    beta: float = 4.0,
    seed: int = 0,
    offset: int = 0,
) -> npt.NDArray[np.float64]:
    """Selection keys of inputs offset..offset + n of a larger pool, as `select` perturbs
    them with the same seed: the batch_size highest keys over all slices (`top_b`) are
    `select` on the whole pool.

    Args:
        scores: acquisition scores [n] of the slice, read as `select` reads them
            ("topk" keys of float64 scores are the float64 scores themselves).
        strategy: "topk", "power" or "softmax"; "softrank" is a ValueError (its weights
            are ranks in the whole pool).
        beta: coldness of the stochastic strategies, ≥ 0.
        seed: the seed `select` would be given, 0 ≤ seed < 2**64.
        offset: global index of scores[0] in the pool.

    Returns:
        float64 [n] keys.

    Raises:
        ValueError: strategy "softrank", a non-finite score, a float64 score beyond
            float32's range for a stochastic strategy, a negative beta, scores that are
            not one-dimensional, an unknown strategy.
    """

def top_b(
    indices: npt.ArrayLike,
    keys: npt.ArrayLike,
    batch_size: int,
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The best min(batch_size, n) (index, key) pairs, best first (higher key, then lower
    index, as `select`): each shard's candidates, or the batch when merging them all.

    Args:
        indices: global pool indices [n], integers ≥ 0, each at most once.
        keys: their keys [n] (from perturbed_keys), not NaN.
        batch_size: ≥ 1.

    Returns:
        (int64 indices, float64 keys), best first.

    Raises:
        ValueError: lengths that differ, a negative index, a NaN key, batch_size < 1.
        TypeError: indices that are not integers.
    """

@final
class RandomForest:
    """A random forest classifier whose trees are kept apart as posterior samples.

    scikit-learn's RandomForestClassifier defaults (CART, Gini, bootstrap, √d candidate
    features per split, grown to purity); tree t uses stream t of `seed`, so results do
    not depend on the thread count. Picklable.
    """

    def __new__(
        cls,
        n_trees: int = 250,
        seed: int = 0,
        posterior_samples: Optional[int] = None,
        max_features: Union[Literal["sqrt", "log2", "all"], int, None] = "sqrt",
        max_depth: Optional[int] = None,
        bootstrap: bool = True,
        n_classes: Optional[int] = None,
    ) -> "RandomForest":
        """posterior_samples=None takes min(100, n_trees); max_features=None is every
        feature; n_classes=None takes max(y) + 1 at fit time, and C is at most 65,536
        (as `tdal forest`). Raises ValueError for invalid parameters."""

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> "RandomForest":
        """Fits every tree on X [rows, features] and integer (or bool) labels y [rows]
        in 0..C-1, C at most 65,536; returns self."""

    def predict_proba(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The mean of all trees' class probabilities, [N, C]."""

    def predict_per_tree(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Every tree's class probabilities, [N, n_trees, C]."""

    def predict_samples(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The first posterior_samples trees' class probabilities, [N, K, C]."""

    def to_bytes(self) -> bytes:
        """The forest (parameters and fitted trees) as bytes, without the seed."""

    @classmethod
    def from_bytes(cls, data: bytes, seed: int = 0) -> "RandomForest":
        """Restores a forest from to_bytes(); ValueError for bytes that are not one."""

    def __getstate__(self) -> Tuple[bytes, int]: ...
    def __setstate__(self, state: Tuple[bytes, int]) -> None: ...
    @property
    def n_trees(self) -> int: ...
    @property
    def posterior_samples(self) -> int: ...
    @property
    def max_features(self) -> Union[Literal["sqrt", "log2", "all"], int]: ...
    @property
    def max_depth(self) -> Optional[int]: ...
    @property
    def bootstrap(self) -> bool: ...
    @property
    def n_classes(self) -> Optional[int]: ...
    @property
    def seed(self) -> int: ...
    @property
    def n_classes_(self) -> Optional[int]:
        """C of the fitted forest, None before fit."""
