"""Smoke test of experiments/hello.py: prints the demo, learns "ello", deterministic."""

import importlib.util
import pathlib

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # trains the demo and runs it twice

HELLO = pathlib.Path(__file__).parents[2] / "experiments" / "hello.py"


def load_hello():
    spec = importlib.util.spec_from_file_location("hello", HELLO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hello_main_prints_demo_and_learns(capsys):
    hello = load_hello()
    assert hello.main(steps=60, seed=0) == "ello"
    printed = capsys.readouterr().out
    for name in (
        "x_data (3, 5, 4)",
        "outputs (3, 2)",
        "hidden_states (3, 2)",
        "cell_states (3, 2)",
    ):
        assert name in printed
    assert "outputs == hidden_states: True" in printed
    losses = [float(line.split()[-1]) for line in printed.splitlines() if line.startswith("step")]
    assert losses[-1] < 0.1 * losses[0]


def test_hello_is_deterministic():
    hello = load_hello()
    a, b = hello.keras_style_call(3), hello.keras_style_call(3)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
