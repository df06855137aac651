"""A plain NumPy LSTM in float64: the oracle every numeric test compares against."""

from __future__ import annotations

import numpy as np


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
