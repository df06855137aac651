"""The README's Python examples run as written, in order, like one session."""

import pathlib
import re
import warnings

import jax
import pytest

pytestmark = pytest.mark.slow  # runs every example of the README

README = pathlib.Path(__file__).parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_blocks_run_in_order(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    namespace = {}
    # A reader's session: default rank promotion, and Keras' NumPy 2 deprecation is theirs.
    with jax.numpy_rank_promotion("allow"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for index, code in enumerate(BLOCKS):
            exec(compile(code, f"{README}:block{index}", "exec"), namespace)
    assert len(BLOCKS) >= 7
