"""A plain NumPy LSTM in float64: the oracle every numeric test compares against."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _concatenate(forward, backward):
    both = isinstance(forward, np.ndarray) and isinstance(backward, np.ndarray)
    return (np if both else jnp).concatenate([forward, backward], axis=-1)


# The merge modes of a bidirectional layer written out (Keras calls "mean" "ave"): NumPy
# in float64 for the oracle, jax.numpy for compositions of jlstm calls.
MERGES = {
    "concat": _concatenate,
    "sum": lambda forward, backward: forward + backward,
    "mean": lambda forward, backward: (forward + backward) / 2,
    "mul": lambda forward, backward: forward * backward,
}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def cell(params, h: np.ndarray, c: np.ndarray, x: np.ndarray):
    """One step; `params` is any object with weight_ih, weight_hh, bias, weight_hr."""
    w_ih, w_hh = np.float64(params.weight_ih), np.float64(params.weight_hh)
    z = x @ w_ih.T + h @ w_hh.T
    if params.bias is not None:
        z = z + np.float64(params.bias)
    i, f, g, o = np.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    if params.weight_hr is not None:
        h = h @ np.float64(params.weight_hr).T
    return h, c


def sequence(params, xs, h0=None, c0=None, lengths=None, reverse=False):
    """Batch-major `(batch, time, input)` sequence, one sequence at a time, in Python loops.

    Returns `(h_final, c_final, ys)`; padded outputs are 0, and with `reverse` only each
    sequence's valid prefix is walked backwards.
    """
    xs = np.float64(xs)
    batch, time, _ = xs.shape
    hidden = params.weight_hh.shape[0] // 4
    out = params.weight_hh.shape[1]
    h0 = np.zeros((batch, out)) if h0 is None else np.float64(h0)
    c0 = np.zeros((batch, hidden)) if c0 is None else np.float64(c0)
    lengths = [time] * batch if lengths is None else [int(n) for n in lengths]
    ys = np.zeros((batch, time, out))
    h_final, c_final = np.zeros_like(h0), np.zeros_like(c0)
    for b in range(batch):
        h, c = h0[b], c0[b]
        steps = range(lengths[b])
        for t in reversed(steps) if reverse else steps:
            h, c = cell(params, h, c, xs[b, t])
            ys[b, t] = h
        h_final[b], c_final[b] = h, c
    return h_final, c_final, ys


def layer_norm(a: np.ndarray, scale, offset=None, eps: float = 1e-5) -> np.ndarray:
    """Ba et al. (2016): normalise over the last axis, then gain (and offset)."""
    mean = a.mean(axis=-1, keepdims=True)
    var = ((a - mean) ** 2).mean(axis=-1, keepdims=True)
    out = (a - mean) / np.sqrt(var + eps) * np.float64(scale)
    return out if offset is None else out + np.float64(offset)


def variant_cell(params, h, c, x, recurrent_mask=None):
    """One step with the optional variants of `params`; returns `(h, c, gates)`.

    Peepholes (Gers & Schmidhuber 2000): i, f see c_{t-1}, o sees c_t. Layer norm (Ba et
    al. 2016, eqs. 20-22): LN(W_hh h) + LN(W_ih x) + b and tanh(LN(c_t)). CIFG (Greff et al.
    2017): i = 1 - f, with gate blocks [f; g; o]. `recurrent_mask` multiplies the h that
    enters W_hh h (variational dropout). `gates` holds the activations i, f, g, o.
    """
    hidden = c.shape[-1]
    h_in = h if recurrent_mask is None else h * np.float64(recurrent_mask)
    z_x = x @ np.float64(params.weight_ih).T
    z_h = h_in @ np.float64(params.weight_hh).T
    norm = getattr(params, "layer_norm", None)
    if norm is not None:
        z_x, z_h = layer_norm(z_x, norm.scale_ih), layer_norm(z_h, norm.scale_hh)
    z = z_x + z_h
    if params.bias is not None:
        z = z + np.float64(params.bias)
    cifg = z.shape[-1] == 3 * hidden
    blocks = np.split(z, 3 if cifg else 4, axis=-1)
    z_i, (z_f, z_g, z_o) = (None, blocks) if cifg else (blocks[0], blocks[1:])
    peephole = getattr(params, "weight_peephole", None)
    p = np.zeros((2 if cifg else 3, hidden)) if peephole is None else np.float64(peephole)
    p_i, p_f, p_o = (None, *p) if cifg else p
    f = sigmoid(z_f + p_f * c)
    i = 1.0 - f if cifg else sigmoid(z_i + p_i * c)
    g = np.tanh(z_g)
    c_new = f * c + i * g
    o = sigmoid(z_o + p_o * c_new)
    squashed = np.tanh(c_new if norm is None else layer_norm(c_new, norm.scale_c, norm.offset_c))
    h_new = o * squashed
    if params.weight_hr is not None:
        h_new = h_new @ np.float64(params.weight_hr).T
    return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}


def general_sequence(
    params,
    xs,
    h0=None,
    c0=None,
    *,
    lengths=None,
    mask=None,
    resets=None,
    reverse=False,
    input_mask=None,
    recurrent_mask=None,
    zoneout=(0.0, 0.0),
    zoneout_masks=None,
):
    """Batch-major sequences with every option of `jlstm.lstm`, one sequence at a time.

    Each sequence's valid prefix is cut into segments at the steps flagged in `resets`;
    each segment runs from `(h0, c0)` (backwards with `reverse`). Masked steps carry the
    state and output the carried h. Dropout masks are `(batch, features)`; zoneout uses
    `zoneout_masks` `((batch, time, out), (batch, time, hidden))` when given (True keeps
    the previous value), else the expectation with the rates `zoneout = (rate_h, rate_c)`.
    Returns `(h_final, c_final, ys, trace)`, `trace` a dict of `(batch, time, size)` arrays
    h, c, i, f, g, o with zeros at padded steps and zero gates at masked steps.
    """
    xs = np.float64(xs)
    batch, time, _ = xs.shape
    hidden = (params.weight_hh if params.weight_hr is None else params.weight_hr).shape[1]
    out = params.weight_hh.shape[1]
    h0 = np.zeros((batch, out)) if h0 is None else np.float64(h0)
    c0 = np.zeros((batch, hidden)) if c0 is None else np.float64(c0)
    lengths = [time] * batch if lengths is None else [int(n) for n in lengths]
    mask = np.ones((batch, time), bool) if mask is None else np.asarray(mask)
    resets = np.zeros((batch, time), bool) if resets is None else np.asarray(resets)
    if input_mask is not None:
        xs = xs * np.float64(input_mask)[:, None, :]
    sizes = {"h": out, "c": hidden, "i": hidden, "f": hidden, "g": hidden, "o": hidden}
    trace = {name: np.zeros((batch, time, size)) for name, size in sizes.items()}
    h_final, c_final = np.zeros_like(h0), np.zeros_like(c0)
    rate_h, rate_c = zoneout
    for b in range(batch):
        starts = [0] + [t for t in range(1, lengths[b]) if resets[b, t]] + [lengths[b]]
        segments = [range(starts[k], starts[k + 1]) for k in range(len(starts) - 1)]
        h, c = h0[b], c0[b]
        for segment in reversed(segments) if reverse else segments:
            h, c = h0[b], c0[b]
            for t in reversed(segment) if reverse else segment:
                r_mask = None if recurrent_mask is None else recurrent_mask[b]
                if mask[b, t]:
                    h_new, c_new, gates = variant_cell(params, h, c, xs[b, t], r_mask)
                    if zoneout_masks is not None:
                        keep_h, keep_c = zoneout_masks[0][b, t], zoneout_masks[1][b, t]
                        h_new = np.where(keep_h, h, h_new)
                        c_new = np.where(keep_c, c, c_new)
                    else:
                        h_new = rate_h * h + (1 - rate_h) * h_new
                        c_new = rate_c * c + (1 - rate_c) * c_new
                    h, c = h_new, c_new
                    for name, value in gates.items():
                        trace[name][b, t] = value
                trace["h"][b, t], trace["c"][b, t] = h, c
        h_final[b], c_final[b] = h, c
    return h_final, c_final, trace["h"].copy(), trace
