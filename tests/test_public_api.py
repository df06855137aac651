"""The public surface: everything in __all__ imports, is documented, and the import is light."""

import subprocess
import sys

import pytest

import jlstm


def test_all_names_exist_and_are_documented():
    for name in jlstm.__all__:
        obj = getattr(jlstm, name)
        assert obj.__doc__, name


@pytest.mark.slow
def test_import_pulls_in_only_jax_and_numpy():
    code = (
        "import sys, jlstm; heavy = {'flax', 'optax', 'orbax', 'torch', 'keras', 'equinox'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
