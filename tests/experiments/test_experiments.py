"""Smoke tests of experiments/adding.py, charlm.py and the gate plot of hello.py.

Tiny settings: each run must still show the effect it demonstrates (an LSTM beats the
baseline of the adding problem, a language model beats the unigram baseline).
"""

import importlib.util
import math
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

EXPERIMENTS = pathlib.Path(__file__).parents[2] / "experiments"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture
def load(monkeypatch):
    """Import an experiment by file name, with experiments/ on the path for its helpers."""
    monkeypatch.syspath_prepend(str(EXPERIMENTS))

    def load_module(name):
        spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load_module


def assert_plot(path):
    if HAS_MATPLOTLIB:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size < 150_000
    else:
        assert not path.exists()


@pytest.mark.slow
def test_rnn_matches_python_loop(load):
    rnn = load("_rnn")
    params = rnn.init_rnn(jax.random.key(0), input_size=3, hidden_size=4)
    xs = jax.random.normal(jax.random.key(1), (2, 6, 3), jnp.float32)
    h, hs = rnn.rnn(params, xs)
    w_ih, w_hh, b = (np.asarray(p, np.float64) for p in params)
    expected_h = np.zeros((2, 4))
    for t in range(6):
        expected_h = np.tanh(np.asarray(xs[:, t]) @ w_ih.T + expected_h @ w_hh.T + b)
        np.testing.assert_allclose(hs[:, t], expected_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(h, hs[:, -1])


@pytest.mark.slow
@pytest.mark.parametrize("length", [2, 7])  # the shortest, and halves of unequal size
def test_adding_batch_marks_one_value_in_each_half(load, length):
    adding = load("adding")
    xs, targets = adding.make_batch(jax.random.key(3), 64, length)
    values, markers = np.asarray(xs[..., 0]), np.asarray(xs[..., 1])
    assert xs.shape == (64, length, 2) and targets.shape == (64, 1)
    assert np.all((values >= 0) & (values < 1))
    half = length // 2
    np.testing.assert_array_equal(markers[:, :half].sum(axis=1), 1)
    np.testing.assert_array_equal(markers[:, half:].sum(axis=1), 1)
    np.testing.assert_allclose(targets[:, 0], (values * markers).sum(axis=1), rtol=1e-6)
    again, _ = adding.make_batch(jax.random.key(3), 64, length)
    np.testing.assert_array_equal(xs, again)


@pytest.mark.slow
def test_adding_lstm_beats_the_baseline(load, tmp_path, capsys):
    adding = load("adding")
    plot = tmp_path / "adding.png"
    results = adding.main(lengths=(20,), steps=300, hidden_size=16, plot=str(plot))
    lstm, rnn = results[20]["lstm"], results[20]["rnn"]
    assert lstm["test_mse"] < 0.1 * adding.BASELINE_MSE
    assert np.mean(lstm["losses"][-50:]) < 0.1 * np.mean(lstm["losses"][:50])
    assert lstm["losses"].shape == rnn["losses"].shape == (300,)
    assert math.isfinite(rnn["test_mse"])
    printed = capsys.readouterr().out
    assert "baseline: always predict 1 = 0.167" in printed
    assert f"{lstm['test_mse']:.4f}" in printed
    assert_plot(plot)


@pytest.mark.slow
def test_charlm_beats_the_unigram_baseline(load, tmp_path, capsys):
    charlm = load("charlm")
    plot = tmp_path / "charlm.png"
    kwargs = dict(chars=40_000, updates=150, hidden_size=64, batch_size=16, chunk_size=32)
    result = charlm.main(**kwargs, eval_every=50, sample_chars=60, plot=str(plot))
    bits = result["bits"]
    assert bits["lstm"]["test"] < bits["unigram"]["test"] - 0.5
    assert bits["bigram"]["test"] < bits["unigram"]["test"]
    losses = result["losses"]
    assert losses.shape == (150,)
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 1.0
    assert result["sample"].startswith("The ") and len(result["sample"]) == 4 + 60
    printed = capsys.readouterr().out
    assert f"{bits['lstm']['test']:.3f}" in printed
    assert "sample (temperature 0.7):" in printed
    assert_plot(plot)


def test_charlm_corpus_and_baselines(load, tmp_path):
    charlm = load("charlm")
    path = tmp_path / "text.txt"
    path.write_text("abcabcabc" * 100 + "xyz", encoding="utf-8")
    corpus = charlm.load_corpus(str(path))
    assert corpus.vocab == "abcxyz"
    assert len(corpus.train) + len(corpus.test) == 903
    assert "".join(corpus.vocab[i] for i in corpus.train[:4]) == "abca"
    bits = charlm.ngram_bits(corpus)
    # Uniform over a, b, c (plus add-one smoothing): about log2(3) bits; the bigram knows.
    assert bits["unigram"]["train"] == pytest.approx(math.log2(3), abs=0.02)
    assert bits["bigram"]["train"] < 0.05
    np.testing.assert_array_equal(
        charlm.streams(np.arange(10), 3, multiple=2), [[0, 1], [2, 3], [4, 5]]
    )


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
def test_hello_plots_the_gates(load, tmp_path, capsys):
    hello = load("hello")
    plot = tmp_path / "gates.png"
    hello.plot_gates(hello.init_model(jax.random.key(0), hidden_size=8), str(plot))
    assert f"plot: {plot}" in capsys.readouterr().out
    assert_plot(plot)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adding", "charlm", "hello"])
def test_help(name):
    script = EXPERIMENTS / f"{name}.py"
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
    )
    assert "--seed" in done.stdout and "--plot" in done.stdout
