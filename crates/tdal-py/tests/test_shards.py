"""A pool in `.npy` shards: tdal.score(path | folder | list) gives the scores of the
concatenated array bit for bit, `offset` addresses random scores by global index, a batch
chosen shard by shard (perturbed_keys + top_b) is tdal.select's on the whole pool, and bad
files are ValueErrors naming the file."""

import pathlib

import numpy as np
import pytest

import tdal
from conftest import EXAMPLE, random_probs

METHODS = ["epig", "bald", "entropy", "confidence", "margin", "random"]
K, C = 12, 3


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """A pool of 250 inputs in 4 shards of uneven sizes (one float64, one Fortran-ordered)
    in a folder, the float32 array they concatenate to, and targets."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("pool")
    sizes = [70, 1, 100, 79]
    shards = [random_probs(rng, (n, K, C)) for n in sizes]
    shards[1] = shards[1].astype(np.float64)
    shards[2] = np.asfortranarray(shards[2])
    for i, shard in enumerate(shards):
        np.save(folder / f"part-{i:02d}.npy", shard)
    pool = np.concatenate([shard.astype(np.float32) for shard in shards])
    targets = random_probs(rng, (9, K, C))
    return folder, pool, targets, sizes


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("block_inputs", [None, 1, 33])
def test_a_folder_of_shards_scores_as_the_concatenated_array(sharded, method, block_inputs):
    folder, pool, targets, _ = sharded
    expected = tdal.score(pool, method, targets, seed=5)
    scores = tdal.score(folder, method, targets, seed=5, block_inputs=block_inputs)
    assert scores.dtype == np.float32 and scores.shape == (len(pool),)
    np.testing.assert_array_equal(scores, expected)


def test_every_way_of_naming_the_files_gives_the_same_scores(sharded):
    folder, pool, targets, _ = sharded
    expected = tdal.score(pool, "epig", targets)
    files = sorted(folder.glob("*.npy"))
    for source in [
        str(folder),
        folder,
        [str(f) for f in files],
        tuple(files),
        [files[0], files[1], str(files[2]), files[3]],
    ]:
        np.testing.assert_array_equal(tdal.score(source, "epig", targets), expected)
    # One file alone is that file's array.
    one = tdal.score(files[0], "bald")
    np.testing.assert_array_equal(one, tdal.score(np.load(files[0]), "bald"))


def test_offset_addresses_random_scores_by_global_index(sharded):
    folder, pool, _, sizes = sharded
    whole = tdal.score(pool, "random", seed=3)
    files = sorted(folder.glob("*.npy"))
    start = 0
    for path, size in zip(files, sizes):
        part = pool[start : start + size]
        np.testing.assert_array_equal(
            tdal.score(path, "random", seed=3, offset=start), whole[start : start + size]
        )
        np.testing.assert_array_equal(
            tdal.score(part, "random", seed=3, offset=start), whole[start : start + size]
        )
        # Scores of the samples do not depend on the offset.
        np.testing.assert_array_equal(
            tdal.score(path, "bald", offset=start), tdal.score(part, "bald")
        )
        start += size


def test_renormalise_reads_files_as_arrays(sharded, tmp_path):
    _, pool, targets, _ = sharded
    scaled = pool * np.float32(1.01)
    np.save(tmp_path / "scaled.npy", scaled)
    np.testing.assert_array_equal(
        tdal.score(tmp_path / "scaled.npy", "epig", targets * 1.01, renormalise=True, block_inputs=7),
        tdal.score(scaled, "epig", targets * 1.01, renormalise=True),
    )


@pytest.mark.parametrize("method", ["epig", "random"])
def test_a_folder_scores_as_the_command_line(sharded, cli, tmp_path, method):
    folder, _, targets, _ = sharded
    np.save(tmp_path / "targets.npy", targets)
    out = tmp_path / "scores.npy"
    cli(
        "score", "--method", method, "--pool", folder, "--targets", tmp_path / "targets.npy",
        "--seed", 7, "--offset", 11, "--out", out,
    )
    np.testing.assert_array_equal(
        tdal.score(folder, method, targets, seed=7, offset=11), np.load(out)
    )


# ---- a batch from shards: perturbed_keys on each, top_b over all ----


def select_from_shards(scores, boundaries, batch_size, strategy, beta, seed):
    """Each slice computes its keys alone and keeps its top batch_size; the batch is the top
    batch_size of the union."""
    candidates = []
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        keys = tdal.perturbed_keys(scores[start:end], strategy, beta, seed, offset=start)
        assert keys.dtype == np.float64 and keys.shape == (end - start,)
        candidates.append(tdal.top_b(np.arange(start, end), keys, batch_size))
    indices = np.concatenate([index for index, _ in candidates])
    keys = np.concatenate([key for _, key in candidates])
    batch, _ = tdal.top_b(indices, keys, batch_size)
    return batch


@pytest.mark.parametrize("strategy", ["power", "softmax", "topk"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_batch_chosen_from_shards_is_the_whole_pool_batch(strategy, seed):
    rng = np.random.default_rng(seed)
    scores = rng.random(1000).astype(np.float32)
    scores[::7] = scores[3]  # ties: the lower index goes first, as in select
    for batch_size in [1, 10, 64]:
        expected = tdal.select(scores, batch_size, strategy, beta=4.0, seed=seed)
        for _ in range(5):
            cuts = np.sort(rng.choice(np.arange(1, len(scores)), size=rng.integers(1, 20), replace=False))
            boundaries = [0, *cuts.tolist(), len(scores)]
            batch = select_from_shards(scores, boundaries, batch_size, strategy, 4.0, seed)
            assert batch.dtype == np.int64
            assert batch.tolist() == expected.tolist()


def test_the_whole_pool_keys_are_the_concatenated_slice_keys():
    scores = np.random.default_rng(4).random(300)  # float64, converted like select does
    whole = tdal.perturbed_keys(scores, "power", 4.0, 9)
    np.testing.assert_array_equal(
        np.concatenate([tdal.perturbed_keys(scores[:100], "power", 4.0, 9),
                        tdal.perturbed_keys(scores[100:], "power", 4.0, 9, offset=100)]),
        whole,
    )
    # The stochastic strategies compute in float32, as `tdal select`: a float64 slice's keys
    # are those of its float32 copy.
    np.testing.assert_array_equal(whole, tdal.perturbed_keys(scores.astype(np.float32), "power", 4.0, 9))
    # Top-k's keys are the scores at their precision: float64 stays float64.
    np.testing.assert_array_equal(tdal.perturbed_keys(scores, "topk"), scores)
    np.testing.assert_array_equal(
        tdal.perturbed_keys(scores.astype(np.float32), "topk"), scores.astype(np.float32)
    )


def test_float64_near_ties_chosen_from_shards_are_the_whole_pool_batch():
    # Distinct in float64, equal in float32: top-k keys keep float64, so the batch from
    # shards is tdal.select's (and `tdal select`'s) on the whole float64 pool.
    scores = 1.0 + np.random.default_rng(6).integers(0, 5, size=400) * 1e-10
    scores[33] = 1e300  # finite: a top-k score like any other
    for batch_size in [1, 7, 50]:
        expected = tdal.select(scores, batch_size, "topk")
        assert expected[0] == 33
        batch = select_from_shards(scores, [0, 33, 34, 250, 400], batch_size, "topk", 4.0, 0)
        assert batch.tolist() == expected.tolist()


def test_float64_beyond_float32_is_an_error_of_the_stochastic_keys():
    scores = np.full(10, 0.5)
    scores[3] = -1e39
    for strategy in ["power", "softmax"]:
        with pytest.raises(ValueError, match=r"^score 8 is -1\d+, beyond float32's range .*: rescale the scores$"):
            tdal.perturbed_keys(scores, strategy, offset=5)
    assert tdal.perturbed_keys(scores, "topk", offset=5)[3] == -1e39
    # The strategy is checked first, as for float32 scores.
    with pytest.raises(ValueError, match=r"^soft-rank selection weighs each score by its rank"):
        tdal.perturbed_keys(scores, "softrank")
    with pytest.raises(ValueError, match=r"beta = -1 is invalid"):
        tdal.perturbed_keys(scores, "power", beta=-1.0)
    with pytest.raises(ValueError, match=r"^score 6 is NaN: scores must be finite$"):
        tdal.perturbed_keys(np.array([1.0, np.nan]), "topk", offset=5)


def test_top_b_orders_by_key_then_index():
    indices, keys = tdal.top_b([5, 3, 9, 1, 7], [0.5, 2.0, 0.5, -1.0, 2.0], 4)
    assert indices.tolist() == [3, 7, 5, 9]
    assert keys.tolist() == [2.0, 2.0, 0.5, 0.5]
    short, _ = tdal.top_b(np.array([4, 2], dtype=np.uint32), np.array([1, 2], dtype=np.float32), 10)
    assert short.tolist() == [2, 4]
    empty, empty_keys = tdal.top_b([], [], 3)
    assert empty.shape == (0,) and empty_keys.shape == (0,)


def test_softrank_and_bad_keys_are_value_errors():
    with pytest.raises(ValueError, match=r"^soft-rank selection weighs each score by its rank in the whole pool"):
        tdal.perturbed_keys(np.ones(4), "softrank")
    with pytest.raises(ValueError, match=r"beta = -1 is invalid"):
        tdal.perturbed_keys(np.ones(4), "power", beta=-1.0)
    with pytest.raises(ValueError, match=r"^score 5 is NaN"):
        tdal.perturbed_keys(np.array([1.0, np.nan]), "power", offset=4)
    with pytest.raises(ValueError, match=r"^expected scores of shape \[n\]"):
        tdal.perturbed_keys(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^expected one key per index, got 2 indices and 3 keys$"):
        tdal.top_b([0, 1], [0.0, 1.0, 2.0], 1)
    with pytest.raises(ValueError, match=r"^indices\[1\] is -4: pool indices must be ≥ 0$"):
        tdal.top_b([0, -4], [0.0, 1.0], 1)
    with pytest.raises(ValueError, match=r"^keys\[0\] is NaN"):
        tdal.top_b([0], [np.nan], 1)
    with pytest.raises(ValueError, match=r"^batch size 0 is invalid: it must be at least 1$"):
        tdal.top_b([0], [1.0], 0)
    with pytest.raises(TypeError, match=r"^indices must hold integers \(int64\), got dtype float64$"):
        tdal.top_b([0.5], [1.0], 1)


# ---- bad files: ValueError with the file's name, as the command line ----


def test_missing_files_and_empty_folders(tmp_path):
    with pytest.raises(ValueError, match=r"^file not found \(looked for .*nowhere\.npy\); check the path$"):
        tdal.score(tmp_path / "nowhere.npy", "bald")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a shard")
    with pytest.raises(ValueError, match=r"^\.npy files not found \(looked for \*\.npy in .*empty\); the folder holds no \.npy file"):
        tdal.score(empty, "bald")
    with pytest.raises(ValueError, match=r"^file not found"):
        tdal.score([EXAMPLE / "pool.npy", tmp_path / "nowhere.npy"], "bald")


def test_shards_must_share_k_and_c(sharded, tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "a.npy", random_probs(rng, (4, K, C)))
    np.save(tmp_path / "b.npy", random_probs(rng, (4, K + 1, C)))
    with pytest.raises(ValueError, match=r"b\.npy holds posterior samples \[N, K=13, C=3\] but .*a\.npy holds \[N, K=12, C=3\]"):
        tdal.score(tmp_path, "bald")
    (tmp_path / "b.npy").unlink()
    np.save(tmp_path / "b.npy", random_probs(rng, (4, K, C + 1)))
    with pytest.raises(ValueError, match=r"C=4\] but .*C=3\]"):
        tdal.score(tmp_path, "bald")
    folder, _, targets, _ = sharded
    with pytest.raises(ValueError) as info:
        tdal.score(folder, "epig", targets[:, :5])
    assert str(info.value) == (
        "pool and targets disagree: pool is [N, K=12, C=3] but targets are [M, K=5, C=3]; "
        "both must hold the same K posterior samples over the same C classes"
    )


def test_bad_values_are_located_in_the_file_and_the_pool(sharded, tmp_path):
    folder, pool, _, _ = sharded
    for path in sorted(folder.glob("*.npy")):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    bad = np.load(tmp_path / "part-02.npy")
    bad[5, 2, 1] = np.nan
    np.save(tmp_path / "part-02.npy", bad)
    with pytest.raises(ValueError, match=r"^in .*part-02\.npy \(pool inputs 71\.\.171\): pool\[76, 2, 1\] is NaN"):
        tdal.score(tmp_path, "bald", block_inputs=4)
    with pytest.raises(ValueError, match=r"^in .*part-02\.npy \(pool inputs 171\.\.271\): pool\[176, 2, 1\] is NaN"):
        tdal.score(tmp_path, "entropy", offset=100)


def test_files_that_are_not_pools(tmp_path):
    np.save(tmp_path / "flat.npy", np.ones((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"flat\.npy is not a valid \.npy file: expected posterior samples of shape \[N, K, C\], found 2 axes"):
        tdal.score(tmp_path / "flat.npy", "bald")
    np.save(tmp_path / "ints.npy", np.ones((3, 4, 2), dtype=np.int32))
    with pytest.raises(ValueError, match=r"expected float32 or float64 values"):
        tdal.score(tmp_path / "ints.npy", "bald")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"junk\.npy is not a valid \.npy file"):
        tdal.score(tmp_path / "junk.npy", "bald")
    np.save(tmp_path / "none.npy", np.ones((0, 4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"none\.npy holds no input: pool: expected probabilities"):
        tdal.score(tmp_path / "none.npy", "bald")
    assert tdal.score(tmp_path / "none.npy", "random").shape == (0,)
    np.save(tmp_path / "ok.npy", np.full((3, 4, 2), 0.5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"^block_inputs must be at least 1$"):
        tdal.score(tmp_path / "ok.npy", "bald", block_inputs=0)
    with pytest.raises(ValueError, match=r'method "epig" needs the target-input samples'):
        tdal.score(tmp_path / "ok.npy")
    assert isinstance(tmp_path, pathlib.PurePath)
