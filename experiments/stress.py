"""Long sequences and reduced precision: the numbers behind jlstm's reliability guarantees.

Three studies, each with the default init (`jlstm.init_lstm`) and standard normal inputs:

1. `long`: T = 100,000 steps (B=4, I=16, H=32), forward and backward, against
   `torch.nn.LSTM` loaded with the same weights: no NaN/Inf, and the gradients of every
   parameter and of the inputs equal PyTorch's to 1e-5, relative to the largest entry;
   both are also compared with jlstm in float64, to see which is closer to exact.
2. `float64`: at T = 10,000, float32 against the same run in float64: outputs and final
   state within 1e-6, gradients within 1e-5 relative.
3. `bfloat16`: at T = 10,000, `dtype=jnp.bfloat16` (bfloat16 matmuls, float32 params and
   cell state) against float32: max abs error of the outputs <= 1e-2, mean <= 1e-3; the
   outputs come back in bfloat16 and the state in float32; gradients within 1e-2 relative.

Usage: `python experiments/stress.py [--long-time 100000] [--time 10000]`. It prints one
line per measurement and `PASS` or `FAIL` per study; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time as clock

import jax
import jax.numpy as jnp
import numpy as np

import jlstm
from jlstm import convert

BATCH, INPUT_SIZE, HIDDEN_SIZE = 4, 16, 32
GRAD_RTOL = 1e-5  # gradients, relative to the largest entry of the reference
FLOAT64_ATOL = 1e-6  # outputs and final state, float32 against float64
BF16_MAX, BF16_MEAN = 1e-2, 1e-3  # outputs, bfloat16 compute against float32
BF16_GRAD_RTOL = 1e-2  # gradients, bfloat16 compute against float32


def problem(time: int, seed: int = 0) -> tuple[jlstm.LSTMParams, np.ndarray, np.ndarray]:
    """Default-init params, inputs `(batch, time, input_size)` and a loss weight per output."""
    params = jlstm.init_lstm(jax.random.key(seed), INPUT_SIZE, HIDDEN_SIZE)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((BATCH, time, INPUT_SIZE)).astype(np.float32)
    weights = rng.standard_normal((BATCH, time, HIDDEN_SIZE)).astype(np.float32)
    return params, xs, weights


def jlstm_grads(params, xs, weights, **options) -> tuple[jax.Array, jlstm.LSTMState, tuple]:
    """Outputs, final state and the gradients of `sum(weights * ys) + sum(h) + sum(c)`."""

    def loss(params, xs):
        state, ys = jlstm.lstm(params, xs, **options)
        total = jnp.sum(weights * ys.astype(weights.dtype)) + jnp.sum(state.h) + jnp.sum(state.c)
        return total, (state, ys)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))
    (d_params, d_xs), (state, ys) = jax.block_until_ready(grad(params, xs))
    return ys, state, (d_params, d_xs)


def relative_error(actual, desired) -> float:
    """`max|actual - desired| / max|desired|`, in float64."""
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    return float(np.max(np.abs(actual - desired)) / np.max(np.abs(desired)))


def all_finite(*trees) -> bool:
    leaves = jax.tree.leaves(trees)
    return all(bool(np.isfinite(np.asarray(leaf, np.float64)).all()) for leaf in leaves)


def report_flag(name: str, ok: bool) -> bool:
    print(f"  {name:<34} {'yes' if ok else 'no, FAIL'}")
    return ok


def report(name: str, value: float, limit: float | None = None) -> bool:
    ok = limit is None or value <= limit
    bound = "" if limit is None else f"  (limit {limit:.0e}{'' if ok else ', FAIL'})"
    print(f"  {name:<34} {value:.2e}{bound}")
    return ok


def long_sequence(time: int) -> bool:
    """Forward and backward over `time` steps, against PyTorch."""
    import torch

    sizes = f"B={BATCH}, I={INPUT_SIZE}, H={HIDDEN_SIZE}"
    print(f"long: T={time:,}, {sizes}, against torch {torch.__version__}")
    params, xs, weights = problem(time)
    start = clock.perf_counter()
    ys, state, (d_params, d_xs) = jlstm_grads(params, xs, weights)
    print(f"  jlstm forward+backward (with compile)  {clock.perf_counter() - start:.1f} s")

    module = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in convert.to_torch(params).items()})
    torch_xs = torch.from_numpy(xs).requires_grad_()
    start = clock.perf_counter()
    torch_ys, (h, c) = module(torch_xs)
    loss = (torch.from_numpy(weights) * torch_ys).sum() + h.sum() + c.sum()
    loss.backward()
    print(f"  torch forward+backward                 {clock.perf_counter() - start:.1f} s")
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}

    ok = report_flag("outputs, state, grads all finite", all_finite(ys, state, d_params, d_xs))
    report("ys max abs err", float(np.max(np.abs(ys - torch_ys.detach().numpy()))))
    pairs = {
        "weight_ih": (d_params.weight_ih, grads["weight_ih_l0"]),
        "weight_hh": (d_params.weight_hh, grads["weight_hh_l0"]),
        "bias": (d_params.bias, grads["bias_ih_l0"]),
        "xs": (d_xs, torch_xs.grad.numpy()),
    }
    for name, (actual, desired) in pairs.items():
        ok &= report(f"d {name} relative err", relative_error(actual, desired), GRAD_RTOL)
    # Who is closer to the exact gradient? The same run in float64 says.
    with jax.enable_x64(True):
        _, _, (d_params64, d_xs64) = jlstm_grads(to64(params), to64(xs), to64(weights))
        exact = {name: np.asarray(getattr(d_params64, name)) for name in pairs if name != "xs"}
        exact["xs"] = np.asarray(d_xs64)
    for name, (ours, theirs) in pairs.items():
        errors = relative_error(ours, exact[name]), relative_error(theirs, exact[name])
        print(f"  d {name:<10} vs float64: jlstm {errors[0]:.2e}, torch {errors[1]:.2e}")
    return ok


def to64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def float64_agreement(time: int) -> bool:
    """float32 against float64 at `time` steps."""
    print(f"float64: T={time:,}, float32 vs float64")
    params, xs, weights = problem(time)
    ys, state, grads = jlstm_grads(params, xs, weights)
    with jax.enable_x64(True):
        ys64, state64, grads64 = jlstm_grads(to64(params), to64(xs), to64(weights))
        ys64, state64, grads64 = jax.tree.map(np.asarray, (ys64, state64, grads64))
    ok = report("ys max abs err", float(np.max(np.abs(ys - ys64))), FLOAT64_ATOL)
    for name in ("h", "c"):
        error = float(np.max(np.abs(getattr(state, name) - getattr(state64, name))))
        ok &= report(f"final {name} max abs err", error, FLOAT64_ATOL)
    (d_params, d_xs), (d_params64, d_xs64) = grads, grads64
    for name in ("weight_ih", "weight_hh", "bias"):
        error = relative_error(getattr(d_params, name), getattr(d_params64, name))
        ok &= report(f"d {name} relative err", error, GRAD_RTOL)
    ok &= report("d xs relative err", relative_error(d_xs, d_xs64), GRAD_RTOL)
    return ok


def bfloat16_agreement(time: int) -> bool:
    """bfloat16 compute (float32 params and state) against float32 at `time` steps."""
    print(f"bfloat16: T={time:,}, dtype=bfloat16 vs float32")
    params, xs, weights = problem(time)
    state, ys = jax.jit(jlstm.lstm)(params, xs)
    state16, ys16 = jax.jit(lambda p, x: jlstm.lstm(p, x, dtype=jnp.bfloat16))(params, xs)
    dtypes_ok = ys16.dtype == jnp.bfloat16 and state16.c.dtype == state16.h.dtype == jnp.float32
    ok = report_flag("ys in bfloat16, state in float32", dtypes_ok)
    error = np.abs(np.asarray(ys16, np.float32) - np.asarray(ys))
    ok &= report("ys max abs err", float(error.max()), BF16_MAX)
    ok &= report("ys mean abs err", float(error.mean()), BF16_MEAN)
    for name in ("h", "c"):
        error = np.abs(np.asarray(getattr(state16, name)) - np.asarray(getattr(state, name)))
        report(f"final {name} max abs err", float(error.max()))
    _, _, (d_params, _) = jlstm_grads(params, xs, weights)
    _, _, (d_params16, _) = jlstm_grads(params, xs, weights, dtype=jnp.bfloat16)
    for name in ("weight_ih", "weight_hh", "bias"):
        error = relative_error(getattr(d_params16, name), getattr(d_params, name))
        ok &= report(f"d {name} relative err", error, BF16_GRAD_RTOL)
    return ok


def main(argv: list[str] | None = None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long-time", type=int, default=100_000, help="steps of the long study")
    parser.add_argument("--time", type=int, default=10_000, help="steps of the precision studies")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    results = {
        "long": long_sequence(args.long_time),
        "float64": float64_agreement(args.time),
        "bfloat16": bfloat16_agreement(args.time),
    }
    for name, ok in results.items():
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    return all(results.values())


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
