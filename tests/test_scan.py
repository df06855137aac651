"""`jlstm.scan`: any cell over a sequence, with the padding, mask and reset rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.factories import inputs, make
from support.layers import jit_lstm, jit_scan

import jlstm


def gru_like(params, state, x):
    """A small cell of a different kind: a leaky tanh unit, state and output (batch, n)."""
    new = 0.5 * state + 0.5 * jnp.tanh(x @ params["w"] + state @ params["u"])
    return new, 2.0 * new


PARAMS = {"w": jnp.asarray(inputs((3, 4), 5)), "u": jnp.asarray(inputs((4, 4), 6))}


def loop(xs, state, lengths=None, mask=None, resets=None, reverse=False):
    """The rules of jlstm.scan, one sequence and one step at a time in NumPy."""
    batch, time, _ = xs.shape
    ys = np.zeros((batch, time, 4), np.float32)
    final = np.array(state)
    for b in range(batch):
        n = time if lengths is None else lengths[b]
        order = range(n - 1, -1, -1) if reverse else range(n)
        s, previous = np.array(state[b]), np.zeros(4, np.float32)
        for k, t in enumerate(order):
            # Run backwards, the segment that starts at a flagged step ends there.
            if resets is not None and k > 0 and resets[b, t + 1 if reverse else t]:
                s, previous = np.array(state[b]), np.zeros(4, np.float32)
            if mask is not None and not mask[b, t]:
                ys[b, t] = previous
                continue
            new, y = gru_like(PARAMS, s[None], xs[b, t][None])
            s, ys[b, t] = np.asarray(new)[0], np.asarray(y)[0]
            previous = ys[b, t]
        final[b] = s
    return final, ys


OPTIONS = {
    "plain": {},
    "lengths": {"lengths": [5, 2, 0]},
    "mask": {"mask": "m"},
    "resets": {"resets": "r"},
    "lengths+mask": {"lengths": [5, 3, 1], "mask": "m"},
}
QUICK = {("plain", False), ("resets", True)}


@pytest.mark.parametrize(
    "name, reverse",
    [
        (name, reverse)
        if (name, reverse) in QUICK
        else pytest.param(name, reverse, marks=pytest.mark.slow)
        for name in OPTIONS
        for reverse in (False, True)
    ],
)
def test_any_cell_follows_the_rules(name, reverse):
    options = OPTIONS[name]
    rng = np.random.default_rng(0)
    xs = inputs((3, 5, 3))
    state = inputs((3, 4), 2)
    flags = {"m": rng.random((3, 5)) < 0.6, "r": rng.random((3, 5)) < 0.4}
    options = {
        k: flags.get(v, v) if isinstance(v, str) else np.array(v) for k, v in options.items()
    }
    final, ys = jax.jit(jlstm.scan, static_argnums=0, static_argnames="reverse")(
        gru_like, PARAMS, jnp.asarray(xs), jnp.asarray(state), reverse=reverse, **options
    )
    expected_final, expected_ys = loop(xs, state, reverse=reverse, **options)
    np.testing.assert_allclose(ys, expected_ys, atol=1e-6)
    np.testing.assert_allclose(final, expected_final, atol=1e-6)


@pytest.mark.slow
def test_lstm_cell_through_scan_is_jlstm_lstm():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((3, 6, 3)))
    state = jlstm.zero_state(params, (3,))
    options = {"lengths": np.array([6, 2, 4]), "reverse": True}
    for time_major in (False, True):
        x = jnp.moveaxis(xs, 1, 0) if time_major else xs
        ours = jit_scan(jlstm.lstm_cell, params, x, state, time_major=time_major, **options)
        expected = jit_lstm(params, x, state, time_major=time_major, **options)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), ours, expected)


@pytest.mark.slow
def test_padding_nan_reaches_nothing():
    xs = inputs((2, 4, 3))
    xs[1, 2:] = np.nan
    lengths = jnp.array([4, 2])

    def loss(params):
        final, ys = jit_scan(gru_like, params, jnp.asarray(xs), jnp.zeros((2, 4)), lengths=lengths)
        return jnp.sum(ys) + jnp.sum(final)

    grads = jax.grad(loss)(PARAMS)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


@pytest.mark.slow
def test_pytree_state_and_outputs_under_vmap_and_jvp():
    def cell(params, state, x):
        total, count = state
        total = total + params * x
        return (total, count + 1.0), {"sum": total, "mean": total / (count + 1.0)}

    xs = jnp.asarray(inputs((4, 5, 2)))
    state = (jnp.zeros((4, 2)), jnp.zeros((4, 1)))
    (total, _), ys = jit_scan(cell, 2.0, xs, state)
    np.testing.assert_allclose(total, 2.0 * xs.sum(1), rtol=1e-6)
    assert ys["mean"].shape == (4, 5, 2)
    _, tangent = jax.jvp(lambda p: jlstm.scan(cell, p, xs, state)[1]["sum"], (2.0,), (1.0,))
    np.testing.assert_allclose(tangent, jnp.cumsum(xs, 1), rtol=1e-6)
    mapped = jax.vmap(lambda x, s: jlstm.scan(cell, 2.0, x, s)[0][0])(xs, state)
    np.testing.assert_allclose(mapped, total, rtol=1e-6)
