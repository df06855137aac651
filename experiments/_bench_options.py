"""The realistic-options table of experiments/bench.py (`--options`).

Forward+backward (`sum(ys)` and its gradients w.r.t. the weights and the inputs) of jlstm
with the options users train with, as a ratio to jlstm's plain layer of the same size, and
against the peers that have the feature: Flax `nn.RNN(OptimizedLSTMCell)` with
`seq_lengths`, Flax `nn.Bidirectional` with `seq_lengths`, Keras 3 `LSTM` (JAX backend)
with a mask, PyTorch `nn.LSTM` on packed sequences. Interleaved rounds, medians; float32
unless the row says bf16. The loss is `sum(ys)`, or with `loss="mse"` the mean squared error
against fixed random targets: a loss that reads the outputs, whose cotangent is an array
rather than the constant of a sum.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import jlstm

Timed = Callable[[], object]


def jlstm_cases(b: int, t: int, i: int, h: int, loss: str = "sum") -> dict[str, Timed]:
    """One compiled fwd+bwd program per jlstm configuration, each ready to call."""
    keys = jax.random.split(jax.random.key(0), 6)
    params = jlstm.init_lstm(keys[0], i, h)
    both = jlstm.Bidirectional(params, jlstm.init_lstm(keys[1], i, h))
    layers = jlstm.init_stack(keys[2], i, h, num_layers=2)
    xs = jax.random.normal(keys[3], (b, t, i))
    lengths = jax.random.randint(keys[4], (b,), t // 2, t + 1)
    mask = jax.random.bernoulli(keys[5], 0.9, (b, t))
    key = jax.random.key(7)
    runs = {
        "plain": lambda p, x: jlstm.lstm(p, x),
        "lengths (T/2..T)": lambda p, x: jlstm.lstm(p, x, lengths=lengths),
        "lengths (all full)": lambda p, x: jlstm.lstm(p, x, lengths=jnp.full((b,), t)),
        "mask": lambda p, x: jlstm.lstm(p, x, mask=mask),
        "resets": lambda p, x: jlstm.lstm(p, x, resets=~mask),
        "reverse + lengths": lambda p, x: jlstm.lstm(p, x, lengths=lengths, reverse=True),
        "recurrent_dropout=0.1": lambda p, x: jlstm.lstm(p, x, recurrent_dropout=0.1, key=key),
        "zoneout_h=0.1": lambda p, x: jlstm.lstm(p, x, zoneout_h=0.1, key=key),
        "dtype=bfloat16": lambda p, x: jlstm.lstm(p, x, dtype=jnp.bfloat16),
        "remat=True": lambda p, x: jlstm.lstm(p, x, remat=True),
    }
    cases = {name: _program(run, params, xs, loss) for name, run in runs.items()}
    cases["bidirectional + lengths"] = _program(
        lambda p, x: jlstm.bidirectional(p, x, lengths=lengths), both, xs, loss
    )
    cases["2-layer stack, dropout=0.2"] = _program(
        lambda p, x: jlstm.stack(p, x, dropout=0.2, key=key), layers, xs, loss
    )
    peers = flax_cases(params, both, xs, lengths, loss) | keras_cases(params, xs, mask, loss)
    return cases | peers | torch_cases(params, both, xs, lengths, loss)


def targets(shape: tuple[int, ...]) -> jax.Array:
    """The fixed targets of the `mse` loss."""
    return jax.random.normal(jax.random.key(1), shape)


def _program(run: Callable, params: object, xs: jax.Array, kind: str) -> Timed:
    target = targets(jax.eval_shape(run, params, xs)[1].shape) if kind == "mse" else None

    def loss(p, x):
        ys = run(p, x)[1].astype(jnp.float32)
        return jnp.sum(ys) if target is None else jnp.mean((ys - target) ** 2)

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    jax.block_until_ready(fn(params, xs))
    return lambda: jax.block_until_ready(fn(params, xs))


def flax_cases(params, both, xs, lengths, loss) -> dict[str, Timed]:
    """Flax linen `nn.RNN(OptimizedLSTMCell)` with `seq_lengths`, one and two directions."""
    from flax import linen as nn

    h = params.weight_hh.shape[1]
    rnn = nn.RNN(nn.OptimizedLSTMCell(h))
    bi = nn.Bidirectional(nn.RNN(nn.OptimizedLSTMCell(h)), nn.RNN(nn.OptimizedLSTMCell(h)))
    cases = {}
    for name, module in (("flax nn.RNN seq_lengths", rnn), ("flax nn.Bidirectional", bi)):
        variables = module.init(jax.random.key(0), xs, seq_lengths=lengths)

        def run(v, x, module=module):
            return None, module.apply(v, x, seq_lengths=lengths)

        cases[name] = _program(run, variables, xs, loss)
    return cases


def keras_cases(
    params: jlstm.LSTMParams, xs: jax.Array, mask: jax.Array, loss: str
) -> dict[str, Timed]:
    """Keras 3 `LSTM(return_sequences=True)` on the JAX backend, called with `mask=`."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    layer = keras.layers.LSTM(
        params.weight_hh.shape[1],
        return_sequences=True,
        kernel_initializer="zeros",
        recurrent_initializer="zeros",
    )
    layer.build(xs.shape)
    fixed = [v.value for v in layer.non_trainable_variables]

    def run(weights, x):
        return None, layer.stateless_call(weights, fixed, x, mask=mask)[0]

    with jax.numpy_rank_promotion("allow"):  # Keras' code broadcasts ranks implicitly
        weights = [v.value for v in layer.trainable_variables]
        return {"keras mask": _program(run, weights, xs, loss)}


def torch_cases(params, both, xs, lengths, loss) -> dict[str, Timed]:
    """PyTorch `nn.LSTM` on packed sequences (`pack_padded_sequence`), 2 threads."""
    import torch

    torch.set_num_threads(2)
    _, t, i = xs.shape
    h = params.weight_hh.shape[1]
    x = torch.from_numpy(np.array(xs)).requires_grad_()
    n = torch.from_numpy(np.array(lengths)).long()
    cases = {}
    for name, bidirectional in (("torch packed", False), ("torch packed bidirectional", True)):
        model = torch.nn.LSTM(i, h, batch_first=True, bidirectional=bidirectional)
        target = torch.from_numpy(np.array(targets((x.shape[0], t, h * (1 + bidirectional)))))

        def step(model=model, target=target):
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, n, True, enforce_sorted=False)
            ys, _ = model(packed)
            ys, _ = torch.nn.utils.rnn.pad_packed_sequence(ys, batch_first=True, total_length=t)
            if loss == "mse":
                ((ys - target) ** 2).mean().backward()
            else:
                ys.sum().backward()

        step()
        cases[name] = step
    return cases


def time_cases(cases: dict[str, Timed], rounds: int) -> dict[str, float]:
    """Median ms per call over interleaved rounds (each round calls every case).

    Each round starts one case later than the one before: the call after PyTorch's runs on
    memory that PyTorch returned to the system (measured 15% slower at C1), and this way
    no case always follows the same one.
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for turn in range(rounds):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            call = cases[name]
            start = time.perf_counter()
            call()
            samples[name].append(1e3 * (time.perf_counter() - start))
    return {name: float(np.median(values)) for name, values in samples.items()}


# The peer case each configuration is compared with, per peer column.
PEERS = {
    "Flax": {
        "lengths (T/2..T)": "flax nn.RNN seq_lengths",
        "bidirectional + lengths": "flax nn.Bidirectional",
    },
    "Keras": {"mask": "keras mask"},
    "PyTorch": {
        "lengths (T/2..T)": "torch packed",
        "bidirectional + lengths": "torch packed bidirectional",
    },
}
PEER_PREFIXES = ("flax", "keras", "torch")


def options_table(
    config: str, sizes: tuple[int, int, int, int], rounds: int, loss: str = "sum"
) -> str:
    """The Markdown table for one config: ms, ratio to the plain layer, ratio to peers."""
    ms = time_cases(jlstm_cases(*sizes, loss), rounds)
    columns = " | ".join(f"vs {peer}" for peer in PEERS)
    lines = [
        f"Options, fwd+bwd of {'sum(ys)' if loss == 'sum' else 'an MSE'}, {config}"
        f" (B, T, I, H = {sizes})",
        f"| configuration | ms | vs plain | {columns} |",
        "|---" * (3 + len(PEERS)) + "|",
    ]
    for name, value in ms.items():
        if name.startswith(PEER_PREFIXES):
            continue
        ratios = [f"{value / ms[of[name]]:.2f}" if name in of else "" for of in PEERS.values()]
        lines.append(f"| {name} | {value:.1f} | {value / ms['plain']:.2f} | {' | '.join(ratios)} |")
    peers = ", ".join(f"{name} {ms[name]:.1f} ms" for name in ms if name.startswith(PEER_PREFIXES))
    return "\n".join([*lines, f"Peers: {peers}."])
