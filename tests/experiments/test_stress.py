"""`experiments/stress.py` (T = 100,000 against PyTorch, float32 against float64, bfloat16 at
T = 10,000) passes in a small run."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[2]


@pytest.mark.slow
def test_stress_experiment_passes_in_a_small_run(torch, capsys):
    spec = importlib.util.spec_from_file_location("stress", ROOT / "experiments" / "stress.py")
    stress = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stress)
    assert stress.main(["--long-time", "200", "--time", "100"])
    printed = capsys.readouterr().out
    for study in ("long", "float64", "bfloat16"):
        assert f"{study}: PASS" in printed
