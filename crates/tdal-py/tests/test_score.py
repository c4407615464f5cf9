"""tdal.score: agreement with the numpy reference formulas, every input layout and dtype,
the same results as the command line, and tdal's error messages as ValueError."""

import pathlib
import tracemalloc

import numpy as np
import pytest

import tdal
from conftest import EXAMPLE, other_threads_ran_during, random_probs, reference_scores

METHODS = ["epig", "bald", "entropy", "confidence", "margin"]


@pytest.mark.parametrize("method", METHODS)
def test_example_scores_match_the_committed_reference(example, method):
    pool, targets = example
    scores = tdal.score(pool, method, targets)
    expected = np.load(EXAMPLE / f"expected_{method}.npy")
    assert scores.dtype == np.float32 and scores.shape == (1000,)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_example_scores_match_the_reference_formulas(example, method):
    pool, targets = example
    expected = reference_scores(pool, targets)[method]
    np.testing.assert_allclose(tdal.score(pool, method, targets), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_inputs_match_the_reference_formulas(dtype, seed):
    rng = np.random.default_rng(seed)
    classes = [2, 5][seed]
    pool = random_probs(rng, (257, 16, classes), dtype=dtype)
    targets = random_probs(rng, (37, 16, classes), dtype=dtype)
    # The reference sees exactly what tdal sees: the float32 values.
    expected = reference_scores(pool.astype(np.float32), targets.astype(np.float32))
    for method in METHODS:
        scores = tdal.score(pool, method, targets)
        assert scores.dtype == np.float32
        np.testing.assert_allclose(scores, expected[method], rtol=0, atol=1e-5, err_msg=method)


@pytest.mark.parametrize("method", METHODS)
def test_float64_input_is_converted_once_to_float32(example, method):
    pool, targets = example
    from_f64 = tdal.score(pool.astype(np.float64), method, targets.astype(np.float64))
    np.testing.assert_array_equal(from_f64, tdal.score(pool, method, targets))


def strided_copies(pool):
    """The same values as `pool` in other memory layouts (no copy is made by tdal for
    any of them)."""
    fortran = np.asfortranarray(pool)
    # Every other posterior sample of a twice-as-wide array: pool[:, ::2]-style strides.
    wide = np.zeros((pool.shape[0], 2 * pool.shape[1], pool.shape[2]), dtype=pool.dtype)
    wide[:, ::2] = pool
    reversed_twice = np.ascontiguousarray(pool[::-1])[::-1]
    transposed = np.ascontiguousarray(pool.transpose(2, 0, 1)).transpose(1, 2, 0)
    return {
        "fortran": fortran,
        "sample stride 2": wide[:, ::2],
        "negative stride": reversed_twice,
        "transposed": transposed,
    }


@pytest.mark.parametrize("method", METHODS)
def test_non_contiguous_views_give_the_contiguous_scores(example, method):
    pool, targets = example
    expected = tdal.score(pool, method, targets)
    for name, view in strided_copies(pool).items():
        assert not view.flags.c_contiguous, name
        np.testing.assert_array_equal(tdal.score(view, method, targets), expected, err_msg=name)
    for name, view in strided_copies(targets).items():
        np.testing.assert_array_equal(tdal.score(pool, method, view), expected, err_msg=name)


def test_a_sliced_pool_is_scored_as_its_copy(example):
    pool, targets = example
    every_other_sample = pool[:, ::2]
    for method in METHODS:
        expected = tdal.score(np.ascontiguousarray(every_other_sample), method, targets[:, ::2])
        np.testing.assert_array_equal(
            tdal.score(every_other_sample, method, targets[:, ::2]), expected
        )


def numpy_bytes_allocated_by(call):
    """Peak bytes numpy allocated during `call` (numpy reports its buffers to tracemalloc;
    tdal's own Rust allocations are not counted)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_float32_arrays_are_read_in_place_and_float64_converted_once(example):
    pool, targets = example
    views = [pool, np.asfortranarray(pool), strided_copies(pool)["sample stride 2"]]
    for view in views:
        copied = numpy_bytes_allocated_by(lambda: tdal.score(view, "epig", targets))
        assert copied < pool.nbytes / 10, copied  # the [N] output and small objects only
    pool64 = pool.astype(np.float64)
    copied = numpy_bytes_allocated_by(lambda: tdal.score(pool64, "epig", targets))
    assert pool.nbytes <= copied < 2 * pool.nbytes, copied  # one float32 copy


def test_read_only_and_big_endian_arrays_are_accepted(example):
    pool, targets = example
    expected = tdal.score(pool, "epig", targets)
    frozen = pool.copy()
    frozen.setflags(write=False)
    np.testing.assert_array_equal(tdal.score(frozen, "epig", targets), expected)
    np.testing.assert_array_equal(tdal.score(pool.astype(">f4"), "epig", targets), expected)
    nested = pool[:20].tolist()
    np.testing.assert_array_equal(tdal.score(nested, "bald"), tdal.score(pool[:20], "bald"))


def test_inputs_are_never_changed(example):
    pool, targets = example
    pool_before, targets_before = pool.copy(), targets.copy()
    unnormalised = pool * 2
    unnormalised_before = unnormalised.copy()
    for method in METHODS + ["random"]:
        tdal.score(pool, method, targets)
    tdal.score(unnormalised, "epig", targets, renormalise=True)
    np.testing.assert_array_equal(pool, pool_before)
    np.testing.assert_array_equal(targets, targets_before)
    np.testing.assert_array_equal(unnormalised, unnormalised_before)


def test_renormalise_rescales_rows_instead_of_rejecting_them(example):
    pool, targets = example
    with pytest.raises(ValueError, match="sums to 2"):
        tdal.score(pool * 2, "epig", targets)
    scores = tdal.score(pool * 2, "epig", targets * 3, renormalise=True)
    np.testing.assert_allclose(scores, tdal.score(pool, "epig", targets), rtol=0, atol=1e-6)


# Scores of `tdal score --method random --pool fixtures/epig-example/pool.npy --seed 3
# --out r.npy` (first five and last one), that is tdal_acquire::random_scores(1000, 3).
RANDOM_SEED_3_HEAD = [
    0.10835129022598267, 0.6229674220085144, 0.6389461159706116, 0.08130168914794922,
    0.9158364534378052,
]
RANDOM_SEED_3_LAST = 0.15159451961517334


def test_random_scores_are_tdal_acquire_random_scores(example):
    pool, _ = example
    scores = tdal.score(pool, "random", seed=3)
    assert scores.dtype == np.float32 and scores.shape == (1000,)
    np.testing.assert_array_equal(scores[:5], np.float32(RANDOM_SEED_3_HEAD))
    assert scores[-1] == np.float32(RANDOM_SEED_3_LAST)
    assert ((scores >= 0) & (scores < 1)).all()
    np.testing.assert_array_equal(tdal.score(pool, "random", seed=3), scores)
    assert not np.array_equal(tdal.score(pool, "random", seed=4), scores)


@pytest.mark.parametrize("method", METHODS + ["random"])
def test_scores_equal_the_command_line(example, cli, tmp_path, method):
    pool, targets = example
    out = tmp_path / "scores.npy"
    cli(
        "score", "--method", method,
        "--pool", EXAMPLE / "pool.npy", "--targets", EXAMPLE / "targets.npy",
        "--seed", 7, "--out", out,
    )
    np.testing.assert_array_equal(tdal.score(pool, method, targets, seed=7), np.load(out))


def test_float64_files_and_arrays_give_the_same_scores(example, cli, tmp_path):
    pool, targets = example
    rng = np.random.default_rng(5)
    pool64 = random_probs(rng, (300, 50, 3), dtype=np.float64)
    np.save(tmp_path / "pool64.npy", pool64)
    cli(
        "score", "--method", "epig", "--pool", tmp_path / "pool64.npy",
        "--targets", EXAMPLE / "targets.npy", "--out", tmp_path / "s.npy",
    )
    np.testing.assert_array_equal(
        tdal.score(pool64, "epig", targets), np.load(tmp_path / "s.npy")
    )


# ---- bad input: ValueError (or TypeError for dtypes) with tdal's message ----


def test_wrong_rank_is_named_like_the_command_line(example):
    pool, targets = example
    with pytest.raises(ValueError, match=r"^expected pool of shape \[N, K, C\], got an array of shape \[1000, 50\]$"):
        tdal.score(pool[:, :, 0], "bald")
    with pytest.raises(ValueError, match=r"^expected targets of shape \[M, K, C\], got an array of shape \[3\]$"):
        tdal.score(pool, "epig", np.ones(3))


def test_nan_inf_and_negative_values_are_located(example):
    pool, targets = example
    bad = pool.copy()
    bad[3, 2, 1] = np.nan
    for method in METHODS:
        with pytest.raises(ValueError, match=r"^pool\[3, 2, 1\] is NaN: probabilities must be finite$"):
            tdal.score(bad, method, targets)
    bad[3, 2, 1] = np.inf
    with pytest.raises(ValueError, match=r"^pool\[3, 2, 1\] is inf: probabilities must be finite$"):
        tdal.score(bad, "bald")
    bad_targets = targets.copy()
    bad_targets[7, 0, 0] = -0.25
    with pytest.raises(ValueError, match=r"^targets\[7, 0, 0\] is -0.25: probabilities must be ≥ 0$"):
        tdal.score(pool, "epig", bad_targets)


def test_rows_not_summing_to_one_are_rejected(example):
    pool, targets = example
    bad = pool.copy()
    bad[10, 4, :] = [0.5, 0.25, 0.0]
    with pytest.raises(ValueError) as info:
        tdal.score(bad, "epig", targets)
    assert str(info.value) == (
        "pool[10, 4, :] sums to 0.75, not 1 (tolerance 0.001); rescale rows explicitly "
        "with `renormalise` (CLI: --renormalise) if that is what you want"
    )


def test_pool_and_targets_must_share_k_and_c(example):
    pool, targets = example
    with pytest.raises(ValueError) as info:
        tdal.score(pool, "epig", targets[:, :40])
    assert str(info.value) == (
        "pool and targets disagree: pool is [N, K=50, C=3] but targets are [M, K=40, C=3]; "
        "both must hold the same K posterior samples over the same C classes"
    )
    two_classes = np.full((5, 50, 2), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match=r"C=3\] but targets are \[M, K=50, C=2\]"):
        tdal.score(pool, "epig", two_classes)


def test_empty_axes_unknown_methods_and_missing_targets(example):
    pool, targets = example
    with pytest.raises(ValueError, match=r"^pool: expected probabilities of shape \[N, K, C\] with every axis ≥ 1, got \[0, 50, 3\]$"):
        tdal.score(pool[:0], "bald")
    with pytest.raises(ValueError, match=r'^method "bayes" is unknown: expected one of epig, bald'):
        tdal.score(pool, "bayes")
    with pytest.raises(ValueError, match=r"needs the target-input samples: pass targets="):
        tdal.score(pool)
    with pytest.raises(ValueError, match=r"^EPIG needs at least \d+ bytes of working memory"):
        tdal.score(pool, "epig", targets, memory_budget_mib=0)


def test_non_real_dtypes_are_type_errors(example):
    pool, _ = example
    with pytest.raises(TypeError, match="got dtype complex64"):
        tdal.score(pool.astype(np.complex64), "bald")
    with pytest.raises(TypeError, match="got dtype object"):
        tdal.score(np.array([[[1.0, None]]], dtype=object), "bald")


def test_paths_are_read_as_the_files_they_name(example):
    # A pool in .npy files (tests/test_shards.py): str, os.PathLike and lists of them.
    pool, targets = example
    expected = tdal.score(pool, "epig", targets)
    for source in [str(EXAMPLE / "pool.npy"), EXAMPLE / "pool.npy", [EXAMPLE / "pool.npy"]]:
        np.testing.assert_array_equal(tdal.score(source, "epig", targets), expected)
    assert isinstance(EXAMPLE / "pool.npy", pathlib.PurePath)


def test_targets_may_be_files_given_as_a_pool_is(example, tmp_path):
    # EPIG's targets as `tdal score --targets` reads them: a .npy path (str or PathLike),
    # a list of them, a folder of shards; float64 files converted to float32.
    pool, targets = example
    expected = tdal.score(pool, "epig", targets)
    np.save(tmp_path / "targets.npy", targets)
    np.save(tmp_path / "targets64.npy", targets.astype(np.float64))
    folder = tmp_path / "shards"
    folder.mkdir()
    np.save(folder / "a.npy", targets[:40])
    np.save(folder / "b.npy", targets[40:])
    for source in [
        str(tmp_path / "targets.npy"),
        tmp_path / "targets.npy",
        [tmp_path / "targets.npy"],
        tmp_path / "targets64.npy",
        folder,
        [folder / "a.npy", str(folder / "b.npy")],
    ]:
        np.testing.assert_array_equal(tdal.score(pool, "epig", targets=source), expected)
        np.testing.assert_array_equal(
            tdal.score(EXAMPLE / "pool.npy", "epig", targets=source, block_inputs=300), expected
        )
    np.testing.assert_array_equal(
        tdal.score(pool, "epig", targets=tmp_path / "targets.npy", renormalise=True),
        tdal.score(pool, "epig", targets, renormalise=True),
    )
    # Other methods ignore targets, even a path.
    np.testing.assert_array_equal(
        tdal.score(pool, "bald", targets=tmp_path / "targets.npy"), tdal.score(pool, "bald")
    )
    # Bad target files are ValueErrors naming the file, as bad pool files.
    with pytest.raises(ValueError, match=r"^file not found \(looked for .*nowhere\.npy\); check the path$"):
        tdal.score(pool, "epig", targets=tmp_path / "nowhere.npy")
    np.save(tmp_path / "flat.npy", np.ones((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"flat\.npy is not a valid \.npy file"):
        tdal.score(pool, "epig", targets=str(tmp_path / "flat.npy"))
    np.save(tmp_path / "two_classes.npy", np.full((5, 50, 2), 0.5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"C=3\] but targets are \[M, K=50, C=2\]"):
        tdal.score(pool, "epig", targets=tmp_path / "two_classes.npy")


def test_scoring_releases_the_gil():
    rng = np.random.default_rng(0)
    pool = rng.random((20_000, 100, 3), dtype=np.float32)
    pool /= pool.sum(axis=2, keepdims=True)
    calls = [
        lambda targets=np.tile(pool[:500], (repeat, 1, 1)): tdal.score(pool, "epig", targets)
        for repeat in (1, 4, 16, 64)
    ]
    assert other_threads_ran_during(calls)
