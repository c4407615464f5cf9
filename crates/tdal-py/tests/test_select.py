"""tdal.select: the same batch as `tdal select` with the same seed, and tdal's errors."""

import numpy as np
import pytest

import tdal

# `tdal select --scores S --batch-size 10 --strategy STRATEGY --beta 4 --seed 0`, where S
# is the EPIG scores of the bundled example (`tdal score --method epig --pool
# fixtures/epig-example/pool.npy --targets fixtures/epig-example/targets.npy --out S`).
CLI_BATCHES = {
    "topk": [508, 185, 205, 183, 92, 954, 866, 468, 957, 208],
    "power": [578, 957, 753, 778, 983, 444, 824, 994, 58, 183],
    "softmax": [578, 753, 295, 444, 824, 58, 862, 749, 635, 957],
    "softrank": [508, 185, 205, 183, 957, 778, 92, 954, 866, 468],
}


@pytest.fixture(scope="module")
def epig_scores(example):
    pool, targets = example
    return tdal.score(pool, "epig", targets)


@pytest.mark.parametrize("strategy", sorted(CLI_BATCHES))
def test_example_batches_equal_the_recorded_command_line_batches(epig_scores, strategy):
    batch = tdal.select(epig_scores, 10, strategy, beta=4.0, seed=0)
    assert batch.dtype == np.int64
    assert batch.tolist() == CLI_BATCHES[strategy]


@pytest.mark.parametrize("strategy", ["topk", "power", "softmax", "softrank"])
@pytest.mark.parametrize("seed", [0, 1, 12345678901234])
def test_batches_equal_the_command_line(cli, tmp_path, strategy, seed):
    rng = np.random.default_rng(seed % 1000)
    scores = rng.gamma(0.5, size=5000).astype(np.float32)
    scores[::97] = 0.0  # power clamps scores ≤ 0
    path = tmp_path / "scores.npy"
    np.save(path, scores)
    for batch_size, beta in [(1, 4.0), (50, 4.0), (50, 0.5), (5000, 8.0)]:
        out = cli(
            "select", "--scores", path, "--batch-size", batch_size,
            "--strategy", strategy, "--beta", beta, "--seed", seed,
        )
        expected = [int(line) for line in out.split()]
        batch = tdal.select(scores, batch_size, strategy, beta=beta, seed=seed)
        assert batch.tolist() == expected, (batch_size, beta)


def test_float64_scores_are_read_as_the_command_line_reads_them(cli, tmp_path):
    scores = np.random.default_rng(3).random(1000)  # float64
    np.save(tmp_path / "scores.npy", scores)
    out = cli("select", "--scores", tmp_path / "scores.npy", "--batch-size", 25,
              "--strategy", "softmax", "--beta", 3, "--seed", 9)
    batch = tdal.select(scores, 25, "softmax", beta=3.0, seed=9)
    assert batch.tolist() == [int(line) for line in out.split()]


def test_float64_topk_compares_at_float64_as_the_command_line():
    # 1 + 1e-9 is 1.0 in float32: `tdal select` compares a float64 file's scores as
    # float64 for top-k, so the second score is the best; float32 scores tie (lower index).
    scores = np.array([1.0, 1.0 + 1e-9])
    assert tdal.select(scores, 1, "topk").tolist() == [1]
    assert tdal.select(scores.astype(np.float32), 1, "topk").tolist() == [0]
    # A finite score beyond float32's range is a score like any other for top-k.
    assert tdal.select(np.array([1.0, 1e300, -1e300]), 3, "topk").tolist() == [1, 0, 2]


def test_float64_near_ties_select_as_the_command_line(cli, tmp_path):
    rng = np.random.default_rng(11)
    scores = 1.0 + rng.integers(0, 5, size=3000) * 1e-10  # distinct in float64, equal in float32
    scores[17] = 1e300
    np.save(tmp_path / "scores.npy", scores)
    for strategy, batch_size in [("topk", 1), ("topk", 60), ("topk", 3000)]:
        out = cli("select", "--scores", tmp_path / "scores.npy", "--batch-size", batch_size,
                  "--strategy", strategy)
        batch = tdal.select(scores, batch_size, strategy)
        assert batch.tolist() == [int(line) for line in out.split()], batch_size


def test_float64_beyond_float32_is_an_error_of_the_stochastic_strategies():
    scores = np.full(30, 0.5)
    scores[17] = 1e300
    for strategy in ["power", "softmax", "softrank"]:
        with pytest.raises(ValueError, match=(
            r"^score 17 is 1\d+, beyond float32's range \(the stochastic strategies compute in "
            r"float32\): rescale the scores$"
        )):
            tdal.select(scores, 2, strategy)
    scores[17] = np.inf  # not finite: the usual message
    with pytest.raises(ValueError, match=r"^score 17 is inf: scores must be finite$"):
        tdal.select(scores, 2, "power")
    with pytest.raises(ValueError, match=r"^score 17 is inf: scores must be finite$"):
        tdal.select(scores, 2, "topk")


def test_float32_values_give_the_same_batch_in_any_dtype():
    # Scores that float32 holds exactly: the stochastic strategies compute in float32, so
    # float64 and float16 copies draw the float32 batch; top-k orders them alike.
    scores = np.random.default_rng(2).random(500).astype(np.float16).astype(np.float32)
    for strategy in ["topk", "power", "softmax", "softrank"]:
        expected = tdal.select(scores, 40, strategy, beta=3.0, seed=8).tolist()
        for dtype in [np.float64, np.float16, ">f4"]:
            batch = tdal.select(scores.astype(dtype), 40, strategy, beta=3.0, seed=8)
            assert batch.tolist() == expected, (strategy, dtype)


def test_defaults_are_power_beta_4_seed_0(epig_scores):
    np.testing.assert_array_equal(
        tdal.select(epig_scores, 10), tdal.select(epig_scores, 10, "power", 4.0, 0)
    )


def test_a_batch_is_distinct_in_range_and_seeded(epig_scores):
    for strategy in ["topk", "power", "softmax", "softrank"]:
        batch = tdal.select(epig_scores, 200, strategy, seed=5)
        assert len(set(batch.tolist())) == 200
        assert batch.min() >= 0 and batch.max() < 1000
        np.testing.assert_array_equal(batch, tdal.select(epig_scores, 200, strategy, seed=5))
    whole = tdal.select(epig_scores, 1000, "power", seed=1)
    assert sorted(whole.tolist()) == list(range(1000))
    assert not np.array_equal(
        tdal.select(epig_scores, 50, "power", seed=1), tdal.select(epig_scores, 50, "power", seed=2)
    )


def test_strided_scores_are_read_in_place():
    scores = np.arange(40, dtype=np.float32)
    assert tdal.select(scores[::-2], 3, "topk").tolist() == [0, 1, 2]
    assert tdal.select(scores[::2], 3, "topk").tolist() == [19, 18, 17]


def test_batch_sizes_outside_1_to_n_are_rejected():
    scores = np.linspace(0.1, 1.0, 8, dtype=np.float32)
    for batch_size in [0, 9, -1]:
        with pytest.raises(ValueError) as info:
            tdal.select(scores, batch_size)
        assert str(info.value) == (
            f"batch size {batch_size} is invalid for a pool of 8: it must be between 1 and 8"
        )
    with pytest.raises(ValueError, match=r"^no scores to select from: the pool is empty$"):
        tdal.select(np.zeros(0, dtype=np.float32), 1)
    with pytest.raises(ValueError, match=r"^no scores to select from"):
        tdal.select(np.zeros(0, dtype=np.float32), -1)


def test_bad_beta_scores_and_strategies_are_rejected():
    scores = np.array([0.1, 0.5, 0.2], dtype=np.float32)
    for strategy in ["power", "softmax", "softrank"]:
        with pytest.raises(ValueError, match=r"^beta = -1 is invalid: a finite number ≥ 0$"):
            tdal.select(scores, 2, strategy, beta=-1.0)
        with pytest.raises(ValueError, match=r"^beta = NaN is invalid"):
            tdal.select(scores, 2, strategy, beta=float("nan"))
    tdal.select(scores, 2, "topk", beta=-1.0)  # top-k has no beta, as on the command line
    with pytest.raises(ValueError, match=r"^score 1 is NaN: scores must be finite$"):
        tdal.select(np.array([0.1, np.nan, 0.2]), 1)
    with pytest.raises(ValueError, match=r"^expected scores of shape \[N\], got an array of shape \[3, 1\]$"):
        tdal.select(scores[:, None], 1)
    with pytest.raises(ValueError, match=r'^strategy "greedy" is unknown: expected one of topk'):
        tdal.select(scores, 1, "greedy")
    with pytest.raises(TypeError, match="got dtype <U1"):
        tdal.select(np.array(["a", "b"]), 1)

