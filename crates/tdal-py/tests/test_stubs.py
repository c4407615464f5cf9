"""The shipped type stubs (tdal.pyi, installed as tdal/__init__.pyi with py.typed) match
the extension module, as mypy's stubtest sees them."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import tdal


def test_the_wheel_ships_the_stubs_and_the_typed_marker():
    package = Path(tdal.__file__).parent
    assert (package / "__init__.pyi").is_file()
    assert (package / "py.typed").is_file()


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_stubs_match_the_module(tmp_path):
    # tdal.tdal is the compiled module maturin's tdal/__init__.py re-exports; its names
    # are described by the package's stub.
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text("tdal.tdal\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "tdal", "--allowlist", str(allowlist)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_public_name_has_a_docstring():
    assert {"score", "select", "perturbed_keys", "top_b", "RandomForest"} <= set(tdal.__all__)
    for name in tdal.__all__:
        if name == "__version__":
            continue
        assert getattr(tdal, name).__doc__, name
    for name in dir(tdal.RandomForest):
        if not name.startswith("_") or name in ("__reduce__", "__getstate__", "__setstate__", "__repr__"):
            assert getattr(tdal.RandomForest, name).__doc__, name
    assert tdal.__doc__
