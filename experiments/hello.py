"""The classic "hello" LSTM demo, in jlstm.

Part 1 is the Keras call `LSTM(units=2, return_state=True)` on three one-hot words:
the last output equals the final hidden state. Part 2 trains an LSTM with Optax to
spell "hello": from "hell" it predicts the next characters "ello".

Run: python experiments/hello.py [--steps N] [--seed S] [--plot [PATH]]

With --plot it also draws the trained LSTM's input, forget and output gates and its cell
state over the characters of "hello" (needs matplotlib).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jlstm
from jlstm.flax import LSTM

VOCAB = "helo"


def one_hot(words: list[str]) -> jax.Array:
    """`(batch, time, len(VOCAB))` one-hot encoding of equal-length words."""
    ids = jnp.array([[VOCAB.index(ch) for ch in word] for word in words])
    return jax.nn.one_hot(ids, len(VOCAB), dtype=jnp.float32)


def keras_style_call(seed: int = 0) -> dict[str, jax.Array]:
    """Part 1: Keras' `LSTM(units=2, return_state=True)` on three words, as a Flax module.

    The module's params are the jlstm pytree: `jlstm.lstm(variables["params"]["lstm"],
    x_data)` gives the same numbers.
    """
    x_data = one_hot(["hello", "eolll", "lleel"])
    model = LSTM(features=2, return_sequences=False, return_state=True)
    variables = model.init(jax.random.key(seed), x_data)
    outputs, hidden_states, cell_states = jax.jit(model.apply)(variables, x_data)
    return {
        "x_data": x_data,
        "outputs": outputs,
        "hidden_states": hidden_states,
        "cell_states": cell_states,
    }


def init_model(key: jax.Array, hidden_size: int) -> dict:
    """An LSTM followed by a linear read-out to character logits."""
    key_lstm, key_out = jax.random.split(key)
    return {
        "lstm": jlstm.init_lstm(key_lstm, len(VOCAB), hidden_size),
        "readout": jax.nn.initializers.glorot_uniform()(key_out, (hidden_size, len(VOCAB))),
    }


def logits(model: dict, xs: jax.Array) -> jax.Array:
    """`(batch, time, vocab)` next-character logits."""
    _, hs = jlstm.lstm(model["lstm"], xs)
    return hs @ model["readout"]


def plot_gates(model: dict, path: str, word: str = "hello") -> None:
    """Heatmaps of the gates `i, f, o` and the cell state `c` (units x characters of `word`)."""
    from plots import figure, save_figure  # matplotlib only when plotting

    _, trace = jlstm.lstm(model["lstm"], one_hot([word])[0], return_gates=True)
    fig = figure(figsize=(8, 2.6), layout="constrained")
    if fig is None:
        return
    panels = (
        ("input gate i", trace.i, "viridis", (0, 1)),
        ("forget gate f", trace.f, "viridis", (0, 1)),
        ("output gate o", trace.o, "viridis", (0, 1)),
        ("cell state c", trace.c, "RdBu_r", (-np.abs(trace.c).max(), np.abs(trace.c).max())),
    )
    for ax, (title, values, cmap, (low, high)) in zip(fig.subplots(1, 4), panels, strict=True):
        image = ax.imshow(np.asarray(values).T, cmap=cmap, vmin=low, vmax=high, aspect="auto")
        ax.set(title=title, xticks=range(len(word)), xticklabels=list(word))
        ax.set_yticks(range(values.shape[-1]))
        fig.colorbar(image, ax=ax)
    fig.axes[0].set_ylabel("hidden unit")
    save_figure(fig, path)


def train(
    steps: int = 100,
    seed: int = 0,
    hidden_size: int = 8,
    log_every: int = 10,
    plot: str | None = None,
) -> str:
    """Part 2: learn "hell" -> "ello" with Adam; return the decoded prediction.

    With `plot` (a PNG path), also draw the trained gates over "hello" (`plot_gates`).
    """
    xs = one_hot(["hell"])
    targets = jnp.array([[VOCAB.index(ch) for ch in "ello"]])
    model = init_model(jax.random.key(seed), hidden_size)
    optimizer = optax.adam(0.05)
    opt_state = optimizer.init(model)

    def loss_fn(model: dict) -> jax.Array:
        return optax.softmax_cross_entropy_with_integer_labels(logits(model, xs), targets).mean()

    @jax.jit
    def update(model: dict, opt_state: optax.OptState) -> tuple[dict, optax.OptState, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(model)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(model, updates), opt_state, loss

    for step in range(1, steps + 1):
        model, opt_state, loss = update(model, opt_state)
        if step % log_every == 0 or step == 1:
            print(f"step {step:4d}  loss {float(loss):.4f}")
    prediction = jnp.argmax(logits(model, xs), axis=-1)[0]
    if plot is not None:
        plot_gates(model, plot)
    return "".join(VOCAB[int(i)] for i in prediction)


def main(steps: int = 100, seed: int = 0, plot: str | None = None) -> str:
    """Run both parts, print them, and return the decoded prediction of part 2.

    With `plot` (a PNG path), also draw the trained gates over "hello".
    """
    print('Part 1: LSTM(units=2, return_state=True) on "hello", "eolll", "lleel"\n')
    results = keras_style_call(seed)
    with np.printoptions(precision=4, suppress=True):
        for name, value in results.items():
            print(f"{name} {value.shape}:\n{np.asarray(value)}\n")
    same = bool(jnp.array_equal(results["outputs"], results["hidden_states"]))
    print(f"outputs == hidden_states: {same}\n")
    print('Part 2: learn to spell "hello" (input "hell", target "ello")\n')
    prediction = train(steps=steps, seed=seed, plot=plot)
    print(f'\nprediction for "hell": "{prediction}"')
    return prediction


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps of part 2")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument(
        "--plot",
        nargs="?",
        const="docs/hello_gates.png",
        help="draw the trained gates to this PNG (default path: docs/hello_gates.png)",
    )
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed, plot=args.plot)
