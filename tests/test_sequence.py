"""`lstm` and `lstm_cell` against the NumPy oracle and against each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import oracle as reference

import jlstm

F32 = 1e-6


def make(input_size=3, hidden_size=5, proj_size=None, bias=True, seed=0, dtype=jnp.float32):
    """Params with a random (non-default) bias so every term is exercised."""
    key_p, key_b = jax.random.split(jax.random.key(seed))
    params = jlstm.init_lstm(
        key_p, input_size, hidden_size, proj_size=proj_size, bias=bias, param_dtype=dtype
    )
    if bias:
        noise = jax.random.normal(key_b, params.bias.shape, dtype)
        params = params._replace(bias=params.bias + noise)
    return params


def inputs(shape, seed=1, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("proj_size", [None, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_oracle(proj_size, bias):
    params = make(proj_size=proj_size, bias=bias)
    out = params.weight_hh.shape[1]
    h, c, x = inputs((4, out), 2), inputs((4, 5), 3), inputs((4, 3), 4)
    state, y = jlstm.lstm_cell(params, jlstm.LSTMState(jnp.asarray(h), jnp.asarray(c)), x)
    h_ref, c_ref = reference.cell(params, np.float64(h), np.float64(c), np.float64(x))
    np.testing.assert_allclose(state.h, h_ref, atol=F32)
    np.testing.assert_allclose(state.c, c_ref, atol=F32)
    np.testing.assert_array_equal(y, state.h)


@pytest.mark.parametrize("batch, time", [(1, 1), (3, 7), (2, 30)])
@pytest.mark.parametrize("proj_size", [None, 3])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_matches_oracle(batch, time, proj_size, reverse, with_state):
    params = make(input_size=4, hidden_size=6, proj_size=proj_size)
    out = params.weight_hh.shape[1]
    xs = inputs((batch, time, 4))
    h0, c0 = (inputs((batch, out), 5), inputs((batch, 6), 6)) if with_state else (None, None)
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0)) if with_state else None
    final, ys = jlstm.lstm(params, xs, state, reverse=reverse)
    h_ref, c_ref, ys_ref = reference.sequence(params, xs, h0, c0, reverse=reverse)
    np.testing.assert_allclose(ys, ys_ref, atol=F32)
    np.testing.assert_allclose(final.h, h_ref, atol=F32)
    np.testing.assert_allclose(final.c, c_ref, atol=F32)


@pytest.mark.parametrize("lengths", [[7, 5, 0, 1, 7], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("proj_size", [None, 2])
def test_lengths_match_oracle(lengths, reverse, proj_size):
    params = make(input_size=3, hidden_size=4, proj_size=proj_size)
    out = params.weight_hh.shape[1]
    xs = inputs((5, 7, 3))
    h0, c0 = inputs((5, out), 2), inputs((5, 4), 3)
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    lengths = np.array(lengths)
    final, ys = jlstm.lstm(params, xs, state, lengths=lengths, reverse=reverse)
    h_ref, c_ref, ys_ref = reference.sequence(params, xs, h0, c0, lengths, reverse)
    np.testing.assert_allclose(ys, ys_ref, atol=F32)
    np.testing.assert_allclose(final.h, h_ref, atol=F32)
    np.testing.assert_allclose(final.c, c_ref, atol=F32)
    padded = np.arange(7)[None, :] >= lengths[:, None]
    assert np.all(np.asarray(ys)[padded] == 0.0)
    empty = lengths == 0
    np.testing.assert_array_equal(np.asarray(final.h)[empty], h0[empty])
    np.testing.assert_array_equal(np.asarray(final.c)[empty], c0[empty])


def test_padding_values_do_not_matter():
    params = make()
    xs = inputs((3, 6, 3))
    lengths = np.array([6, 2, 4])
    noisy = xs.copy()
    for b, n in enumerate(lengths):
        noisy[b, n:] = 1e3
    for reverse in (False, True):
        a = jlstm.lstm(params, xs, lengths=lengths, reverse=reverse)
        b = jlstm.lstm(params, noisy, lengths=lengths, reverse=reverse)
        jax.tree.map(np.testing.assert_array_equal, a, b)


def test_full_lengths_equal_no_lengths():
    params = make()
    xs = inputs((3, 6, 3))
    for reverse in (False, True):
        a = jlstm.lstm(params, xs, lengths=np.full(3, 6), reverse=reverse)
        b = jlstm.lstm(params, xs, reverse=reverse)
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-7), a, b)


def test_lstm_equals_python_loop_of_cell():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((2, 9, 3)))
    state = jlstm.zero_state(params, (2,))
    outputs = []
    for t in range(9):
        state, h = jlstm.lstm_cell(params, state, xs[:, t])
        outputs.append(h)
    final, ys = jlstm.lstm(params, xs)
    np.testing.assert_allclose(ys, jnp.stack(outputs, axis=1), atol=1e-7)
    np.testing.assert_allclose(final.c, state.c, atol=1e-7)


@pytest.mark.parametrize("batch_shape", [(), (2,), (2, 3), (1, 2, 2)])
def test_any_leading_batch_dims(batch_shape):
    params = make()
    xs = inputs((*batch_shape, 5, 3))
    final, ys = jlstm.lstm(params, xs)
    flat = xs.reshape(-1, 5, 3)
    _, c_ref, ys_ref = reference.sequence(params, flat)
    np.testing.assert_allclose(ys, ys_ref.reshape(*batch_shape, 5, 5), atol=F32)
    np.testing.assert_allclose(final.c, c_ref.reshape(*batch_shape, 5), atol=F32)


@pytest.mark.parametrize("lengths", [None, [4, 1]])
def test_time_major_equals_batch_major(lengths):
    params = make()
    xs = inputs((2, 4, 3))
    lengths = None if lengths is None else np.array(lengths)
    a_state, a_ys = jlstm.lstm(params, xs, lengths=lengths)
    b_state, b_ys = jlstm.lstm(params, xs.swapaxes(0, 1), lengths=lengths, time_major=True)
    np.testing.assert_array_equal(a_ys, b_ys.swapaxes(0, 1))
    jax.tree.map(np.testing.assert_array_equal, a_state, b_state)


def test_empty_time_and_batch():
    params = make(proj_size=2)
    state, ys = jlstm.lstm(params, inputs((3, 0, 3)))
    assert ys.shape == (3, 0, 2)
    np.testing.assert_array_equal(state.h, np.zeros((3, 2)))
    state, ys = jlstm.lstm(params, inputs((0, 4, 3)), lengths=np.zeros(0, int))
    assert ys.shape == (0, 4, 2) and state.c.shape == (0, 5)


def test_init_defaults():
    params = jlstm.init_lstm(jax.random.key(3), 10, 6)
    expected_bias = np.zeros(24)
    expected_bias[6:12] = 1.0
    np.testing.assert_array_equal(params.bias, expected_bias)
    w_hh = np.float64(params.weight_hh)
    np.testing.assert_allclose(w_hh.T @ w_hh, np.eye(6), atol=1e-5)  # orthogonal columns
    limit = np.sqrt(6.0 / (24 + 10))  # Glorot uniform
    assert np.abs(params.weight_ih).max() <= limit
    assert np.abs(params.weight_ih).max() > 0.8 * limit
    assert params.weight_hr is None


def test_init_options():
    params = jlstm.init_lstm(
        jax.random.key(0),
        3,
        4,
        proj_size=2,
        forget_bias=0.0,
        param_dtype=jnp.bfloat16,
        weight_ih_init=jax.nn.initializers.ones,
        bias_init=jax.nn.initializers.constant(0.5),
    )
    assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(jnp.bfloat16)}
    np.testing.assert_array_equal(np.float32(params.weight_ih), np.ones((16, 3)))
    np.testing.assert_array_equal(np.float32(params.bias), np.full(16, 0.5))
    assert params.weight_hh.shape == (16, 2) and params.weight_hr.shape == (2, 4)
    assert jlstm.init_lstm(jax.random.key(0), 3, 4, bias=False).bias is None


def test_init_is_deterministic_per_key():
    a = jlstm.init_lstm(jax.random.key(7), 3, 4)
    b = jlstm.init_lstm(jax.random.key(7), 3, 4)
    c = jlstm.init_lstm(jax.random.key(8), 3, 4)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(a.weight_ih, c.weight_ih)


def test_zero_state(x64):
    params = make(proj_size=2)
    state = jlstm.zero_state(params, (2, 3))
    assert state.h.shape == (2, 3, 2) and state.c.shape == (2, 3, 5)
    assert state.c.dtype == jnp.float32
    assert not np.any(state.h) and not np.any(state.c)
    assert jlstm.zero_state(params, dtype=jnp.float64).c.dtype == jnp.float64
    assert jlstm.zero_state(params, 4).h.shape == jlstm.zero_state(params, (4,)).h.shape == (4, 2)
