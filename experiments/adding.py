"""The adding problem (Hochreiter & Schmidhuber 1997): an LSTM remembers, a tanh RNN forgets.

Each sequence has T steps of two features: a value drawn from U[0, 1] and a marker that is
1 at exactly two steps, one in each half of the sequence, and 0 elsewhere. The target is the
sum of the two marked values, read from the last step. Always predicting 1 scores the
variance of that sum, 1/6 = 0.167: a model must beat this baseline to have carried the first
marked value across at least T/2 steps. An LSTM and a plain tanh RNN with the same number of
hidden units (`_rnn.py`) are trained at each T on the same batches for the same number of
steps, with Adam and gradient clipping. The RNN's learning rate is 1e-3, its best of 1e-3,
3e-3 and 1e-2 at T = 50 (at the LSTM's 1e-2 it does not learn at all).

Run: python experiments/adding.py [--lengths 50 100 200] [--steps N] [--hidden H]
     [--seed S] [--plot PATH | --no-plot]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from _rnn import init_rnn, rnn
from plots import figure, moving_average, save_figure

import jlstm
from jlstm import train

BASELINE_MSE = 1 / 6  # Var(u1 + u2) for u1, u2 ~ U[0, 1]: the MSE of always predicting 1
MODELS = {"lstm": "LSTM", "rnn": "tanh RNN"}  # name -> label
TEST_SIZE = 4096


@partial(jax.jit, static_argnums=(1, 2))
def make_batch(key: jax.Array, batch_size: int, length: int) -> tuple[jax.Array, jax.Array]:
    """`(xs, targets)`: `(batch, length, 2)` values and markers, `(batch, 1)` marked sums."""
    key_values, key_first, key_second = jax.random.split(key, 3)
    values = jax.random.uniform(key_values, (batch_size, length), jnp.float32)
    half = length // 2
    first = jax.random.randint(key_first, (batch_size, 1), 0, half)
    second = jax.random.randint(key_second, (batch_size, 1), half, length)
    steps = jnp.arange(length)[None, :]
    markers = ((steps == first) | (steps == second)).astype(jnp.float32)
    targets = jnp.sum(values * markers, axis=1, keepdims=True)
    return jnp.stack([values, markers], axis=-1), targets


def batches(key: jax.Array, batch_size: int, length: int) -> Iterator[tuple[jax.Array, ...]]:
    """An endless stream of fresh training batches."""
    while True:
        key, batch_key = jax.random.split(key)
        yield make_batch(batch_key, batch_size, length)


def init_model(key: jax.Array, model: str, hidden_size: int) -> dict:
    """A recurrent layer ("lstm" or "rnn") and a linear read-out of its last output."""
    key_cell, key_out = jax.random.split(key)
    init_cell = jlstm.init_lstm if model == "lstm" else init_rnn
    readout = jax.nn.initializers.glorot_uniform()(key_out, (hidden_size, 1), jnp.float32)
    return {
        "cell": init_cell(key_cell, 2, hidden_size),
        "readout": readout,
        "bias": jnp.ones((1,), jnp.float32),  # start at the baseline prediction
    }


def predict(params: dict, xs: jax.Array) -> jax.Array:
    """`(batch, 1)` predicted sums from `(batch, time, 2)` inputs."""
    if isinstance(params["cell"], jlstm.LSTMParams):
        h = jlstm.lstm(params["cell"], xs)[0].h
    else:
        h = rnn(params["cell"], xs)[0]
    return h @ params["readout"] + params["bias"][None, :]


def loss_fn(params: dict, batch: tuple[jax.Array, jax.Array], key: jax.Array) -> tuple:
    """Mean squared error of the predicted sums."""
    xs, targets = batch
    return jnp.mean((predict(params, xs) - targets) ** 2), None


def train_model(
    model: str, length: int, *, steps: int, hidden_size: int, batch_size: int, lr: float, seed: int
) -> dict[str, Any]:
    """Train one model at one sequence length; return its losses, test MSE and wall time."""
    start = time.perf_counter()
    key_init, key_train, key_data, key_test = jax.random.split(jax.random.key(seed), 4)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    params = init_model(key_init, model, hidden_size)
    state = train.init_train_state(params, optimizer, key=key_train)
    test_xs, test_targets = make_batch(key_test, TEST_SIZE, length)
    test_mse = jax.jit(lambda params: loss_fn(params, (test_xs, test_targets), key_test)[0])
    state, history = train.fit(
        train.make_train_step(loss_fn, optimizer),
        state,
        batches(key_data, batch_size, length),
        num_steps=steps,
        eval_fn=lambda state: {"test_mse": test_mse(state.params)},
    )
    return {
        "losses": history.losses,
        "test_mse": history.metrics[-1][1]["test_mse"],
        "seconds": time.perf_counter() - start,
    }


def plot_curves(results: dict[int, dict[str, dict]], path: str, window: int = 50) -> None:
    """One panel per T: the training MSE of both models (moving average) and the baseline."""
    lengths = sorted(results)
    fig = figure(figsize=(3.2 * len(lengths), 3), layout="constrained")
    if fig is None:
        return
    axes = fig.subplots(1, len(lengths), sharey=True, squeeze=False)[0]
    for ax, length in zip(axes, lengths, strict=True):
        for model, color in zip(MODELS, ("tab:blue", "tab:red"), strict=True):
            steps, means = moving_average(results[length][model]["losses"], window)
            ax.plot(steps, means, color=color, label=MODELS[model])
        ax.axhline(BASELINE_MSE, color="gray", linestyle="--", label="predict 1")
        ax.set(title=f"T = {length}", xlabel="training step", yscale="log")
    axes[0].set_ylabel(f"training MSE (mean of {window} steps)")
    axes[0].legend()
    save_figure(fig, path)


def print_table(results: dict[int, dict[str, dict]]) -> None:
    print(f"\ntest MSE on {TEST_SIZE} sequences (baseline: always predict 1 = {BASELINE_MSE:.3f})")
    print(f"{'T':>5}  {'LSTM':>8}  {'tanh RNN':>8}  {'LSTM s':>7}  {'RNN s':>7}")
    for length, row in sorted(results.items()):
        mse = "  ".join(f"{row[model]['test_mse']:>8.4f}" for model in MODELS)
        seconds = "  ".join(f"{row[model]['seconds']:>7.1f}" for model in MODELS)
        print(f"{length:>5}  {mse}  {seconds}")


def main(
    lengths: tuple[int, ...] = (50, 100, 200),
    steps: int = 3000,
    hidden_size: int = 32,
    batch_size: int = 32,
    lr: float = 1e-2,
    rnn_lr: float = 1e-3,
    seed: int = 0,
    plot: str | None = "docs/adding.png",
) -> dict[int, dict[str, dict]]:
    """Train both models at every T; print the test MSE table and return all results.

    Returns:
      `{T: {"lstm": result, "rnn": result}}`, each result a dict with the per-step training
      `losses`, the final `test_mse` and the wall time in `seconds` (compilation included).
    """
    results: dict[int, dict[str, dict]] = {}
    for length in lengths:
        results[length] = {}
        for model in MODELS:
            result = train_model(
                model,
                length,
                steps=steps,
                hidden_size=hidden_size,
                batch_size=batch_size,
                lr=lr if model == "lstm" else rnn_lr,
                seed=seed,
            )
            results[length][model] = result
            print(
                f"T={length:<4} {model:>4}: test MSE {result['test_mse']:.4f} "
                f"({result['seconds']:.1f} s)"
            )
    print_table(results)
    if plot is not None:
        plot_curves(results, plot)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200], help="T")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per model")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units of both models")
    parser.add_argument("--batch", type=int, default=32, help="sequences per training step")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of the LSTM")
    parser.add_argument(
        "--rnn-lr", type=float, default=1e-3, help="that of the RNN (it stalls at 1e-2)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--plot", default="docs/adding.png", help="where to save the PNG")
    parser.add_argument("--no-plot", action="store_true", help="do not plot")
    args = parser.parse_args()
    main(
        lengths=tuple(args.lengths),
        steps=args.steps,
        hidden_size=args.hidden,
        batch_size=args.batch,
        lr=args.lr,
        rnn_lr=args.rnn_lr,
        seed=args.seed,
        plot=None if args.no_plot else args.plot,
    )
