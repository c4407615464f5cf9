"""tdal.RandomForest: accuracy comparable to scikit-learn's RandomForestClassifier, per-tree
probabilities consistent with the mean, pickling, and tdal's errors as ValueError."""

import copy
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import tdal
from conftest import other_threads_ran_during


@pytest.fixture(scope="module")
def problem():
    """A 3-class synthetic problem: 8 informative of 20 features, 2,000 training and
    2,000 test rows."""
    x, y = make_classification(
        n_samples=4000, n_features=20, n_informative=8, n_redundant=4, n_classes=3,
        n_clusters_per_class=2, class_sep=1.0, random_state=0,
    )
    return x[:2000].astype(np.float32), y[:2000], x[2000:].astype(np.float32), y[2000:]


@pytest.fixture(scope="module")
def fitted(problem):
    x, y, _, _ = problem
    return tdal.RandomForest(n_trees=100, seed=0).fit(x, y)


def test_accuracy_is_comparable_to_scikit_learn(problem):
    x, y, x_test, y_test = problem
    ours = tdal.RandomForest(n_trees=250, seed=0).fit(x, y)
    ours_accuracy = (ours.predict_proba(x_test).argmax(axis=1) == y_test).mean()
    theirs = RandomForestClassifier(n_estimators=250, random_state=0, n_jobs=2).fit(x, y)
    their_accuracy = (theirs.predict(x_test) == y_test).mean()
    assert ours_accuracy > 0.75, ours_accuracy
    assert abs(ours_accuracy - their_accuracy) < 0.03, (ours_accuracy, their_accuracy)


def test_shapes_and_probabilities(fitted, problem):
    _, _, x_test, _ = problem
    proba = fitted.predict_proba(x_test)
    per_tree = fitted.predict_per_tree(x_test)
    samples = fitted.predict_samples(x_test)
    assert proba.shape == (2000, 3) and proba.dtype == np.float32
    assert per_tree.shape == (2000, 100, 3) and per_tree.dtype == np.float32
    assert samples.shape == (2000, 100, 3)
    assert fitted.n_classes_ == 3
    np.testing.assert_allclose(per_tree.sum(axis=2), 1.0, atol=1e-6)
    np.testing.assert_array_equal(samples, per_tree)


def test_the_mean_of_the_trees_is_predict_proba(fitted, problem):
    _, _, x_test, _ = problem
    per_tree = fitted.predict_per_tree(x_test)
    np.testing.assert_allclose(
        per_tree.astype(np.float64).mean(axis=1), fitted.predict_proba(x_test), rtol=0, atol=1e-6
    )


def test_predict_samples_are_the_first_k_trees(problem):
    x, y, x_test, _ = problem
    forest = tdal.RandomForest(n_trees=30, posterior_samples=7, seed=1).fit(x, y)
    samples = forest.predict_samples(x_test)
    assert samples.shape == (2000, 7, 3)
    np.testing.assert_array_equal(samples, forest.predict_per_tree(x_test)[:, :7])
    # The posterior samples feed tdal.score directly.
    scores = tdal.score(samples, "bald")
    assert scores.shape == (2000,) and (scores >= 0).all()


def test_pickle_round_trip_gives_identical_predictions(fitted, problem):
    x, y, x_test, _ = problem
    for restored in [
        pickle.loads(pickle.dumps(fitted)),
        pickle.loads(pickle.dumps(fitted, protocol=2)),
        copy.deepcopy(fitted),
        tdal.RandomForest.from_bytes(fitted.to_bytes(), seed=fitted.seed),
    ]:
        assert isinstance(restored, tdal.RandomForest)
        assert repr(restored) == repr(fitted)
        assert restored.n_classes_ == 3
        np.testing.assert_array_equal(restored.predict_per_tree(x_test), fitted.predict_per_tree(x_test))
        np.testing.assert_array_equal(restored.predict_proba(x_test), fitted.predict_proba(x_test))
    # The seed travels with the pickle: refitting the copy gives the same forest.
    custom = tdal.RandomForest(n_trees=10, seed=42, max_depth=3, max_features=5, bootstrap=False)
    copied = pickle.loads(pickle.dumps(custom))
    assert repr(copied) == repr(custom) and copied.n_classes_ is None
    np.testing.assert_array_equal(
        copied.fit(x, y).predict_per_tree(x_test), custom.fit(x, y).predict_per_tree(x_test)
    )


def test_a_seed_gives_the_same_forest_and_float64_is_converted_once(problem):
    x, y, x_test, _ = problem
    first = tdal.RandomForest(n_trees=20, seed=3).fit(x, y).predict_per_tree(x_test)
    again = tdal.RandomForest(n_trees=20, seed=3).fit(x.astype(np.float64), y)
    np.testing.assert_array_equal(again.predict_per_tree(x_test.astype(np.float64)), first)
    other = tdal.RandomForest(n_trees=20, seed=4).fit(x, y).predict_per_tree(x_test)
    assert not np.array_equal(other, first)
    # Fortran-order and strided features are read in place and give the same trees.
    wide = np.zeros((x.shape[0], 40), dtype=np.float32)
    wide[:, ::2] = x
    strided = tdal.RandomForest(n_trees=20, seed=3).fit(wide[:, ::2], y.astype(np.uint8))
    np.testing.assert_array_equal(strided.predict_per_tree(np.asfortranarray(x_test)), first)


def test_parameters_have_tdal_heads_defaults():
    forest = tdal.RandomForest()
    assert (forest.n_trees, forest.posterior_samples, forest.max_features) == (250, 100, "sqrt")
    assert (forest.max_depth, forest.bootstrap, forest.n_classes, forest.seed) == (None, True, None, 0)
    assert tdal.RandomForest(n_trees=20).posterior_samples == 20
    assert tdal.RandomForest(max_features=None).max_features == "all"
    assert tdal.RandomForest(max_features=3).max_features == 3
    assert tdal.RandomForest(max_features="log2").max_features == "log2"


def test_bad_parameters_are_value_errors():
    with pytest.raises(ValueError, match=r"^invalid n_trees = 0: expected at least 1$"):
        tdal.RandomForest(n_trees=0)
    with pytest.raises(ValueError, match=r"^invalid posterior_samples = 11: expected 1..=10"):
        tdal.RandomForest(n_trees=10, posterior_samples=11)
    with pytest.raises(ValueError, match=r"^invalid max_depth = 0"):
        tdal.RandomForest(max_depth=0)
    with pytest.raises(ValueError, match=r'^max_features "cube" is unknown'):
        tdal.RandomForest(max_features="cube")
    # C is at most 65,536 (tdal-heads' MAX_CLASSES, as `tdal forest`): a huge C would
    # allocate C values per leaf and per prediction.
    with pytest.raises(ValueError, match=r"^invalid n_classes = 10000000000: expected at most 65536"):
        tdal.RandomForest(n_classes=10**10)
    with pytest.raises(ValueError, match=r"^invalid n_classes = 65537: expected at most 65536"):
        tdal.RandomForest(n_classes=65537)
    assert tdal.RandomForest(n_classes=65536).n_classes == 65536


def test_bad_data_is_a_value_error_with_tdal_s_message(problem):
    x, y, x_test, _ = problem
    forest = tdal.RandomForest(n_trees=5)
    with pytest.raises(ValueError, match=r"^the head has not been fitted yet: call fit before predicting$"):
        forest.predict_proba(x_test)
    bad = x.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"^training features holds a non-finite value \(NaN\) at row 4, feature 2"):
        forest.fit(bad, y)
    with pytest.raises(ValueError, match=r"^features have 2000 rows but labels have 1999 entries"):
        forest.fit(x, y[:-1])
    with pytest.raises(ValueError, match=r"^need at least 2 training samples, got 1$"):
        forest.fit(x[:1], y[:1])
    with pytest.raises(ValueError, match=r"^y holds label -1 at row 0: classes must be 0..C-1$"):
        forest.fit(x[:3], np.array([-1, 0, 1]))
    with pytest.raises(TypeError, match=r"^y must hold integer class labels 0..C-1, got dtype float64$"):
        forest.fit(x[:3], np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"^expected X of shape \[rows, features\], got an array of shape \[2000\]$"):
        forest.fit(x[:, 0], y)
    with pytest.raises(ValueError, match=r"^expected y of shape \[rows\]"):
        forest.fit(x, y[:, None])
    forest.fit(x, y)
    with pytest.raises(ValueError, match=r"^expected test features of shape \[N, 20\] \(as in training\), got \[5, 19\]$"):
        forest.predict_per_tree(x_test[:5, :19])
    with pytest.raises(ValueError, match=r"^invalid max_features = 30"):
        tdal.RandomForest(n_trees=2, max_features=30).fit(x, y)
    with pytest.raises(ValueError, match=r"^label 3 at row 0 is out of range: expected classes 0..2$"):
        tdal.RandomForest(n_trees=2, n_classes=2).fit(x[:2], np.array([3, 0]))
    with pytest.raises(ValueError, match=(
        r"^label 1000000000 at row 1 is too large: classes must be 0..C-1 with C at most 65536 "
    )):
        tdal.RandomForest(n_trees=2).fit(x[:2], np.array([0, 10**9]))
    with pytest.raises(ValueError, match=r"^label 65536 at row 0 is too large"):
        tdal.RandomForest(n_trees=2).fit(x[:2], np.array([65536, 0], dtype=np.uint32))


def test_corrupt_bytes_are_a_value_error(fitted):
    data = fitted.to_bytes()
    with pytest.raises(ValueError, match=r"^cannot restore a random forest from these bytes: the leaf count"):
        tdal.RandomForest.from_bytes(data[:-1])
    with pytest.raises(ValueError, match="tdal-rf"):
        tdal.RandomForest.from_bytes(b"not a forest")
    forest = tdal.RandomForest()
    with pytest.raises(ValueError, match="cannot restore a random forest"):
        forest.__setstate__((data + b"\0", 0))


def test_fitting_releases_the_gil():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10_000, 10)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=10_000) > 0).astype(np.int64)
    forests = [tdal.RandomForest(n_trees=n_trees, seed=0) for n_trees in (250, 1000, 4000)]
    assert other_threads_ran_during([lambda forest=forest: forest.fit(x, y) for forest in forests])
