"""A character-level language model trained with truncated backpropagation through time.

The text (default: the Python reference documentation that ships with Python, the pages of
`help()` in `pydoc_data.topics`, so nothing is downloaded; or `--text PATH`) is split into
its first 90% for training and the last 10% for testing. An LSTM reads one-hot characters
and a linear read-out predicts the next one. The training text is cut into `batch` parallel
streams; `jlstm.train.make_tbptt_step` trains on windows of them chunk by chunk, an
optimizer update per chunk, with the LSTM state carried from chunk to chunk and window to
window. Reports bits per character on train and test text against unigram and bigram
baselines (add-one smoothed counts of the training text), then samples text.

Run: python experiments/charlm.py [--text PATH] [--updates N] [--hidden H]
     [--temperature T] [--seed S] [--plot PATH | --no-plot]
"""

from __future__ import annotations

import argparse
import math
import pathlib
import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from plots import figure, moving_average, save_figure

import jlstm
from jlstm import train

TEST_FRACTION = 0.1
EVAL_STREAMS = 16  # evaluation reads the text as this many parallel streams
CHUNKS_PER_WINDOW = 10  # optimizer updates per call of the tBPTT step


class Corpus(NamedTuple):
    """A text encoded as character ids, split into training and test parts."""

    vocab: str  # the characters, id i is vocab[i]
    train: np.ndarray  # (train_chars,) int32 ids
    test: np.ndarray  # (test_chars,) int32 ids


def default_text() -> str:
    """The Python documentation topics of `help()`, a text that ships with Python."""
    from pydoc_data.topics import topics

    return "".join(topics[name] for name in sorted(topics))


def load_corpus(path: str | None = None, chars: int | None = None) -> Corpus:
    """Read the text at `path` (default: `default_text()`), keep `chars` of it, encode it."""
    text = default_text() if path is None else pathlib.Path(path).read_text(encoding="utf-8")
    text = text[:chars]
    vocab = "".join(sorted(set(text)))
    ids = np.searchsorted(np.array(list(vocab)), np.array(list(text))).astype(np.int32)
    split = round(len(ids) * (1 - TEST_FRACTION))
    return Corpus(vocab, ids[:split], ids[split:])


def _bits(probabilities: np.ndarray) -> float:
    return float(-np.mean(np.log2(probabilities)))


def ngram_bits(corpus: Corpus) -> dict[str, dict[str, float]]:
    """Bits per character of add-one smoothed unigram and bigram models of the training text.

    Returns:
      `{"unigram": {"train": bits, "test": bits}, "bigram": {...}}`.
    """
    size = len(corpus.vocab)
    unigram = np.bincount(corpus.train, minlength=size) + 1.0
    unigram /= unigram.sum()
    bigram = np.ones((size, size))
    np.add.at(bigram, (corpus.train[:-1], corpus.train[1:]), 1.0)
    bigram /= bigram.sum(axis=1, keepdims=True)
    parts = {"train": corpus.train, "test": corpus.test}
    return {
        "unigram": {name: _bits(unigram[ids[1:]]) for name, ids in parts.items()},
        "bigram": {name: _bits(bigram[ids[:-1], ids[1:]]) for name, ids in parts.items()},
    }


def streams(ids: np.ndarray, count: int, multiple: int = 1) -> np.ndarray:
    """`(count, length)`: `ids` cut into `count` consecutive streams, `length` a multiple."""
    length = (len(ids) // count) // multiple * multiple
    return ids[: count * length].reshape(count, length)


def init_model(key: jax.Array, vocab_size: int, hidden_size: int) -> dict:
    """An LSTM over one-hot characters and a linear read-out to next-character logits."""
    key_lstm, key_out = jax.random.split(key)
    return {
        "lstm": jlstm.init_lstm(key_lstm, vocab_size, hidden_size),
        "readout": jax.nn.initializers.glorot_uniform()(key_out, (hidden_size, vocab_size)),
        "bias": jnp.zeros((vocab_size,), jnp.float32),
    }


def next_logits(
    params: dict, ids: jax.Array, state: jlstm.LSTMState | None = None
) -> tuple[jlstm.LSTMState, jax.Array]:
    """`(state, logits)`: `(*batch, time, vocab)` logits of the characters after `ids`."""
    vocab_size = params["bias"].shape[0]
    state, hs = jlstm.lstm(params["lstm"], jax.nn.one_hot(ids, vocab_size), state)
    bias = params["bias"].reshape((1,) * (hs.ndim - 1) + (-1,))
    return state, hs @ params["readout"] + bias


def loss_fn(params: dict, carry: jlstm.LSTMState, chunk: Any, key: jax.Array) -> tuple:
    """Cross-entropy (nats) of one chunk `(inputs, targets)`, each `(batch, chunk_size)`."""
    inputs, targets = chunk
    carry, logits = next_logits(params, inputs, carry)
    return train.sequence_cross_entropy(logits, targets), (carry, None)


@jax.jit
def bits_per_char(params: dict, ids: jax.Array) -> jax.Array:
    """Bits per character of `(streams, length)` ids, each stream read from a zero state."""
    _, logits = next_logits(params, ids[:, :-1])
    return train.sequence_cross_entropy(logits, ids[:, 1:]) / math.log(2)


@partial(jax.jit, static_argnums=(2,))
def _sample_ids(
    params: dict, prompt: jax.Array, length: int, temperature: float, key: jax.Array
) -> jax.Array:
    state, logits = next_logits(params, prompt)

    def step(carry: tuple, key: jax.Array) -> tuple[tuple, jax.Array]:
        state, logits = carry
        char = jax.random.categorical(key, logits / temperature)
        state, logits = next_logits(params, char[None], state)
        return (state, logits[-1]), char

    _, ids = jax.lax.scan(step, (state, logits[-1]), jax.random.split(key, length))
    return ids


def sample(
    params: dict, vocab: str, prompt: str, length: int, temperature: float, key: jax.Array
) -> str:
    """`length` characters drawn after `prompt`, from the softmax of logits / `temperature`."""
    prompt_ids = jnp.array([vocab.index(char) for char in prompt], jnp.int32)
    ids = _sample_ids(params, prompt_ids, length, jnp.float32(temperature), key)
    return prompt + "".join(vocab[i] for i in np.asarray(ids))


def zero_carry(params: dict, stream: Any) -> jlstm.LSTMState:
    """The LSTM state at the start of every stream: zeros for each of its `batch` rows."""
    return jlstm.zero_state(params["lstm"], stream[0].shape[:1])


def train_model(
    corpus: Corpus,
    *,
    updates: int,
    hidden_size: int,
    batch_size: int,
    chunk_size: int,
    lr: float,
    seed: int,
    eval_every: int,
) -> tuple[dict, np.ndarray, list[tuple[int, float]]]:
    """Train with truncated BPTT for about `updates` updates (whole windows of chunks).

    Returns:
      `(params, losses, curve)`: the trained params, the training bits per character of
      every update, and `(update, test bits per character)` about every `eval_every` updates.
    """
    key_init, key_train = jax.random.split(jax.random.key(seed))
    schedule = optax.cosine_decay_schedule(lr, updates, alpha=0.1)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    params = init_model(key_init, len(corpus.vocab), hidden_size)
    state = train.init_train_state(params, optimizer, key=key_train)
    step = train.make_tbptt_step(loss_fn, optimizer, chunk_size, init_carry=zero_carry)
    window = chunk_size * CHUNKS_PER_WINDOW
    # Targets are the inputs shifted by one character, cut into the same streams.
    inputs = jnp.asarray(streams(corpus.train[:-1], batch_size, window))
    targets = jnp.asarray(streams(corpus.train[1:], batch_size, window))
    if inputs.shape[1] == 0:
        raise ValueError(f"the training text is shorter than {batch_size} windows of {window}")
    test = jnp.asarray(streams(corpus.test, EVAL_STREAMS))
    windows_per_epoch = inputs.shape[1] // window
    losses, curve = [], []
    calls = math.ceil(updates / CHUNKS_PER_WINDOW)
    calls_per_eval = max(1, eval_every // CHUNKS_PER_WINDOW)
    for call in range(calls):
        begin = call % windows_per_epoch * window
        stream = (inputs[:, begin : begin + window], targets[:, begin : begin + window])
        if begin == 0:  # a new epoch starts every stream afresh
            carry = zero_carry(state.params, stream)
        state, (chunk_losses, (carry, _)) = step(state, stream, carry)
        losses.append(chunk_losses)
        if (call + 1) % calls_per_eval == 0 or call + 1 == calls:
            test_bits = float(bits_per_char(state.params, test))
            recent = float(np.mean(np.asarray(losses[-calls_per_eval:]))) / math.log(2)
            done = (call + 1) * CHUNKS_PER_WINDOW
            curve.append((done, test_bits))
            print(
                f"update {done:5d}/{calls * CHUNKS_PER_WINDOW}: train {recent:.3f} bpc, "
                f"test {test_bits:.3f} bpc"
            )
    return state.params, np.concatenate(jax.device_get(losses)) / math.log(2), curve


def plot_curves(
    losses: np.ndarray,
    curve: list[tuple[int, float]],
    baselines: dict[str, dict[str, float]],
    path: str,
    window: int = 50,
) -> None:
    """Training bits per character (moving average), test points and the n-gram baselines."""
    fig = figure(figsize=(5.5, 3.5), layout="constrained")
    if fig is None:
        return
    ax = fig.subplots()
    steps, means = moving_average(losses, window)
    ax.plot(steps, means, color="tab:blue", label="LSTM, train")
    updates, test_bits = zip(*curve, strict=True)
    ax.plot(updates, test_bits, "o-", color="tab:orange", label="LSTM, test")
    for (name, bits), style in zip(baselines.items(), ("--", ":"), strict=True):
        ax.axhline(bits["test"], color="gray", linestyle=style, label=f"{name}, test")
    ax.set(xlabel="optimizer update (one chunk)", ylabel="bits per character")
    ax.set_ylim(top=max(baselines["unigram"]["test"] + 0.5, min(means[0], 8.0)))
    ax.legend()
    save_figure(fig, path)


def main(
    text: str | None = None,
    chars: int | None = None,
    updates: int = 1200,
    hidden_size: int = 128,
    batch_size: int = 32,
    chunk_size: int = 64,
    lr: float = 2e-2,
    temperature: float = 0.7,
    prompt: str = "The ",
    sample_chars: int = 400,
    seed: int = 0,
    eval_every: int = 200,
    plot: str | None = "docs/charlm.png",
) -> dict[str, Any]:
    """Train the language model, print bits per character and a sample; return them.

    Returns:
      A dict with `bits` (`{"lstm" | "unigram" | "bigram": {"train": .., "test": ..}}`),
      the per-update training bits `losses`, the `sample` text and the training `seconds`.
    """
    corpus = load_corpus(text, chars)
    missing = sorted(set(prompt) - set(corpus.vocab))
    if missing:
        raise ValueError(f"prompt characters {missing} do not occur in the text; pick another")
    print(
        f"text: {len(corpus.train)} training and {len(corpus.test)} test characters, "
        f"{len(corpus.vocab)} distinct"
    )
    start = time.perf_counter()
    params, losses, curve = train_model(
        corpus,
        updates=updates,
        hidden_size=hidden_size,
        batch_size=batch_size,
        chunk_size=chunk_size,
        lr=lr,
        seed=seed,
        eval_every=eval_every,
    )
    seconds = time.perf_counter() - start
    bits = ngram_bits(corpus)
    train_slice = corpus.train[: len(corpus.test)]  # as much training text as test text
    bits["lstm"] = {
        name: float(bits_per_char(params, jnp.asarray(streams(ids, EVAL_STREAMS))))
        for name, ids in (("train", train_slice), ("test", corpus.test))
    }
    characters = len(losses) * batch_size * chunk_size
    print(
        f"\ntrained on {characters} characters in {seconds:.1f} s "
        f"({characters / seconds:.0f} characters/s, compilation and evaluations included)"
    )
    print(f"{'bits per character':<20} {'train':>6} {'test':>6}")
    for name in ("unigram", "bigram", "lstm"):
        print(f"{name:<20} {bits[name]['train']:>6.3f} {bits[name]['test']:>6.3f}")
    text_out = sample(params, corpus.vocab, prompt, sample_chars, temperature, jax.random.key(seed))
    print(f"\nsample (temperature {temperature}):\n{text_out}")
    if plot is not None:
        plot_curves(losses, curve, {k: bits[k] for k in ("unigram", "bigram")}, plot)
    return {"bits": bits, "losses": losses, "sample": text_out, "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 text file (default: Python's help() topics)")
    parser.add_argument("--chars", type=int, help="use only the first CHARS characters")
    parser.add_argument("--updates", type=int, default=1200, help="optimizer updates (chunks)")
    parser.add_argument("--hidden", type=int, default=128, help="LSTM hidden units")
    parser.add_argument("--batch", type=int, default=32, help="parallel training streams")
    parser.add_argument("--chunk", type=int, default=64, help="tBPTT chunk length")
    parser.add_argument("--lr", type=float, default=2e-2, help="peak Adam learning rate")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature")
    parser.add_argument("--prompt", default="The ", help="text the sample starts from")
    parser.add_argument("--sample-chars", type=int, default=400, help="characters to sample")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--plot", default="docs/charlm.png", help="where to save the PNG")
    parser.add_argument("--no-plot", action="store_true", help="do not plot")
    args = parser.parse_args()
    main(
        text=args.text,
        chars=args.chars,
        updates=args.updates,
        hidden_size=args.hidden,
        batch_size=args.batch,
        chunk_size=args.chunk,
        lr=args.lr,
        temperature=args.temperature,
        prompt=args.prompt,
        sample_chars=args.sample_chars,
        seed=args.seed,
        plot=None if args.no_plot else args.plot,
    )
