"""Dropout between the layers of a `stack`: torch.nn.LSTM's rule, seen through a probe layer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree
from support.factories import inputs, mixed_stack, random_layer

import jlstm
from jlstm import LSTMParams

PROBE_SCALE = 0.25


def probe_layer(features, dtype=np.float64):
    """A layer whose outputs reveal its inputs: only the cell candidate reads x, as s * x.

    All other pre-activations are 0, so i = f = o = 1/2, `c_t = (c_{t-1} + tanh(s x_t)) / 2`
    and `h_t = tanh(c_t) / 2`, which `probe_inputs` inverts.
    """
    zeros = np.zeros((features, features))
    weight_ih = np.concatenate([zeros, zeros, PROBE_SCALE * np.eye(features), zeros])
    weight_hh = np.zeros((4 * features, features))
    return LSTMParams(jnp.asarray(weight_ih, dtype), jnp.asarray(weight_hh, dtype), None)


def probe_inputs(ys):
    c = np.arctanh(2 * np.asarray(ys, np.float64))
    previous = np.concatenate([np.zeros_like(c[..., :1, :]), c[..., :-1, :]], axis=-2)
    return np.arctanh(2 * c - previous) / PROBE_SCALE


@pytest.mark.slow
def test_probe_layer_reveals_its_inputs(x64):
    xs = inputs((2, 5, 3), dtype=np.float64)
    _, ys = jlstm.lstm(probe_layer(3), jnp.asarray(xs))
    np.testing.assert_allclose(probe_inputs(ys), xs, atol=1e-10)


@pytest.mark.slow
def test_dropout_between_layers(x64):
    rate = 0.3
    first = random_layer(30, 3, 4, dtype=np.float64)
    xs = jnp.asarray(inputs((64, 50, 3), dtype=np.float64))
    params = (first, probe_layer(4))
    run = jax.jit(jax.vmap(lambda key: jlstm.stack(params, xs, dropout=rate, key=key)[1]))
    runs = run(jax.random.split(jax.random.key(0), 2))
    _, hidden = jax.jit(jlstm.lstm)(first, xs)  # what the first layer passes on
    hidden = np.asarray(hidden)
    seen = probe_inputs(runs[0])  # what the second layer received

    dropped = np.abs(seen) < 1e-9
    kept = np.abs(seen - hidden / (1 - rate)) < 1e-9
    assert np.all(dropped ^ kept), "each element is dropped or scaled by 1 / (1 - rate)"
    n = seen.size
    assert abs(kept.mean() - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / n)
    # Inverted dropout keeps the expectation: E[seen] = hidden, checked to 4 standard errors.
    standard_error = np.sqrt(np.sum(hidden**2) * rate / (1 - rate)) / n
    assert abs(np.mean(seen - hidden)) < 4 * standard_error
    # One draw per element, as torch.nn.LSTM(dropout=...): the mask varies along time.
    assert not np.all(kept == kept[:, :1])
    # Another key draws another mask; the same key gives the same result.
    assert not np.array_equal(np.abs(probe_inputs(runs[1])) < 1e-9, dropped)
    single = jax.jit(lambda key: jlstm.stack(params, xs, dropout=rate, key=key)[1])
    np.testing.assert_array_equal(single(jax.random.split(jax.random.key(0), 2)[1]), runs[1])


@pytest.mark.slow
def test_no_dropout_after_the_last_layer():
    params, xs, lengths = mixed_stack(), inputs((4, 6, 3)), np.array([6, 0, 2, 5])
    key = jax.random.key(1)
    run = jax.jit(lambda p, k: jlstm.stack(p, xs, lengths=lengths, dropout=0.5, key=k))
    one_layer = run(params[:1], key)
    final, ys = jax.jit(lambda p: jlstm.lstm(p, xs, lengths=lengths))(params[0])
    assert_same_tree(one_layer, ((final,), ys))
    _, ys = run(params, key)
    valid = np.arange(6) < lengths[:, None]
    assert np.all(np.asarray(ys)[valid] != 0) and np.all(np.asarray(ys)[~valid] == 0)


@pytest.mark.slow
def test_deterministic_is_evaluation():
    params, xs = mixed_stack(), jnp.asarray(inputs((2, 4, 3)))
    evaluation = jax.jit(lambda: jlstm.stack(params, xs, dropout=0.5, deterministic=True))()
    assert_same_tree(evaluation, jax.jit(lambda: jlstm.stack(params, xs))())


@pytest.mark.slow
def test_zero_dropout_ignores_the_key():
    params, xs = mixed_stack(), jnp.asarray(inputs((2, 4, 3)))
    with_key = jax.jit(lambda k: jlstm.stack(params, xs, dropout=0.0, key=k))(jax.random.key(0))
    assert_same_tree(with_key, jax.jit(lambda: jlstm.stack(params, xs))())
