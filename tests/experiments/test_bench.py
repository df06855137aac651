"""Smoke test of experiments/bench.py: a quick run on the tiny config prints a table whose
installed peers all match jlstm's outputs and input gradients."""

import argparse
import importlib.util
import json
import pathlib

import pytest

EXPERIMENTS = pathlib.Path(__file__).parents[2] / "experiments"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))  # bench.py imports _bench_peers beside it
    spec = importlib.util.spec_from_file_location("bench", EXPERIMENTS / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_run_times_every_installed_peer_with_parity(bench, capsys, tmp_path):
    path = tmp_path / "rows.json"
    rows = bench.main(["--quick", "--configs", "C5", "--json", str(path)])

    installed = {
        name for name, module in bench.PEER_MODULES.items() if importlib.util.find_spec(module)
    }
    assert rows[0]["peer"] == "jlstm"
    assert {row["peer"] for row in rows} == installed
    for row in rows:
        print(f"{row['peer']}: max err ys {row['error_ys']:.1e}, dxs {row['error_dxs']:.1e}")
        assert row["parity_ok"], row
        assert (row["batch"], row["time"], row["input_size"], row["hidden_size"]) == (3, 5, 4, 2)
        assert row["forward_ms"] > 0 and row["fwdbwd_ms"] > 0
    reference = rows[0]
    assert reference["ratio_forward"] == reference["ratio_fwdbwd"] == 1.0
    assert reference["compile_fwdbwd_s"] > 0 and reference["memory_fwdbwd_mb"] > 0

    printed = capsys.readouterr().out
    table = [line for line in printed.splitlines() if line.startswith("|")]
    assert table[0].startswith("| config (B, T, I, H) | peer | forward ms | fwd+bwd ms |")
    assert len(table) == 2 + len(rows)
    assert "machine: " in printed and "MISMATCH" not in printed
    assert json.loads(path.read_text())["rows"] == rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [("C3", ("C3", (16, 1000, 32, 64))), ("8x20x16x32", ("8x20x16x32", (8, 20, 16, 32)))],
)
def test_parse_config(bench, text, expected):
    assert bench.parse_config(text) == expected


@pytest.mark.parametrize("text", ["C9", "8x20x16", "8x0x16x32"])
def test_parse_config_rejects(bench, text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected one of"):
        bench.parse_config(text)


def test_unknown_peer_is_an_error(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--peers", "jlstm,caffe"])
    assert "unknown peers ['caffe']" in capsys.readouterr().err
