"""`lstm` and `lstm_cell` against the NumPy oracle and against each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import oracle as reference
from support.factories import inputs, make
from support.layers import jit_cell, jit_lstm

import jlstm

F32 = 1e-6


@pytest.mark.parametrize("proj_size", [None, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_oracle(proj_size, bias):
    params = make(proj_size=proj_size, bias=bias)
    out = params.weight_hh.shape[1]
    h, c, x = inputs((4, out), 2), inputs((4, 5), 3), inputs((4, 3), 4)
    state, y = jit_cell(params, jlstm.LSTMState(jnp.asarray(h), jnp.asarray(c)), x)
    h_ref, c_ref = reference.cell(params, np.float64(h), np.float64(c), np.float64(x))
    np.testing.assert_allclose(state.h, h_ref, atol=F32)
    np.testing.assert_allclose(state.c, c_ref, atol=F32)
    np.testing.assert_array_equal(y, state.h)


# Every pair of values of any two options, in 6 cases instead of 24.
@pytest.mark.parametrize(
    "batch, time, proj_size, reverse, with_state",
    [
        pytest.param(1, 1, None, False, False, marks=pytest.mark.slow),
        pytest.param(1, 1, 3, True, True, marks=pytest.mark.slow),
        pytest.param(3, 7, None, True, True, marks=pytest.mark.slow),
        (3, 7, 3, False, False),
        pytest.param(2, 30, None, False, True, marks=pytest.mark.slow),
        pytest.param(2, 30, 3, True, False, marks=pytest.mark.slow),
    ],
)
def test_lstm_matches_oracle(batch, time, proj_size, reverse, with_state):
    params = make(input_size=4, hidden_size=6, proj_size=proj_size)
    out = params.weight_hh.shape[1]
    xs = inputs((batch, time, 4))
    h0, c0 = (inputs((batch, out), 5), inputs((batch, 6), 6)) if with_state else (None, None)
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0)) if with_state else None
    final, ys = jit_lstm(params, xs, state, reverse=reverse)
    h_ref, c_ref, ys_ref = reference.sequence(params, xs, h0, c0, reverse=reverse)
    np.testing.assert_allclose(ys, ys_ref, atol=F32)
    np.testing.assert_allclose(final.h, h_ref, atol=F32)
    np.testing.assert_allclose(final.c, c_ref, atol=F32)


@pytest.mark.parametrize(
    "lengths, reverse, proj_size",
    [
        pytest.param([7, 5, 0, 1, 7], False, None, marks=pytest.mark.slow),
        ([7, 5, 0, 1, 7], True, 2),
        pytest.param([0, 0, 0, 0, 0], True, None, marks=pytest.mark.slow),
        pytest.param([0, 0, 0, 0, 0], False, 2, marks=pytest.mark.slow),
        pytest.param([1, 2, 3, 4, 5], False, None, marks=pytest.mark.slow),
        pytest.param([1, 2, 3, 4, 5], True, 2, marks=pytest.mark.slow),
    ],
)
def test_lengths_match_oracle(lengths, reverse, proj_size):
    params = make(input_size=3, hidden_size=4, proj_size=proj_size)
    out = params.weight_hh.shape[1]
    xs = inputs((5, 7, 3))
    h0, c0 = inputs((5, out), 2), inputs((5, 4), 3)
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    lengths = np.array(lengths)
    final, ys = jit_lstm(params, xs, state, lengths=lengths, reverse=reverse)
    h_ref, c_ref, ys_ref = reference.sequence(params, xs, h0, c0, lengths, reverse)
    np.testing.assert_allclose(ys, ys_ref, atol=F32)
    np.testing.assert_allclose(final.h, h_ref, atol=F32)
    np.testing.assert_allclose(final.c, c_ref, atol=F32)
    padded = np.arange(7)[None, :] >= lengths[:, None]
    assert np.all(np.asarray(ys)[padded] == 0.0)
    empty = lengths == 0
    np.testing.assert_array_equal(np.asarray(final.h)[empty], h0[empty])
    np.testing.assert_array_equal(np.asarray(final.c)[empty], c0[empty])


@pytest.mark.slow
def test_padding_values_do_not_matter():
    params = make()
    xs = inputs((3, 6, 3))
    lengths = np.array([6, 2, 4])
    noisy = xs.copy()
    for b, n in enumerate(lengths):
        noisy[b, n:] = 1e3
    for reverse in (False, True):
        a = jit_lstm(params, xs, lengths=lengths, reverse=reverse)
        b = jit_lstm(params, noisy, lengths=lengths, reverse=reverse)
        jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.slow
def test_full_lengths_equal_no_lengths():
    params = make()
    xs = inputs((3, 6, 3))
    for reverse in (False, True):
        a = jit_lstm(params, xs, lengths=np.full(3, 6), reverse=reverse)
        b = jit_lstm(params, xs, reverse=reverse)
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-7), a, b)


@pytest.mark.slow
def test_lstm_equals_python_loop_of_cell():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((2, 9, 3)))
    state = jlstm.zero_state(params, (2,))
    outputs = []
    for t in range(9):
        state, h = jit_cell(params, state, xs[:, t])
        outputs.append(h)
    final, ys = jit_lstm(params, xs)
    np.testing.assert_allclose(ys, jnp.stack(outputs, axis=1), atol=1e-7)
    np.testing.assert_allclose(final.c, state.c, atol=1e-7)


@pytest.mark.parametrize(
    "batch_shape",
    [
        pytest.param((), marks=pytest.mark.slow),
        pytest.param((2,), marks=pytest.mark.slow),
        (2, 3),
        pytest.param((1, 2, 2), marks=pytest.mark.slow),
    ],
)
def test_any_leading_batch_dims(batch_shape):
    params = make()
    xs = inputs((*batch_shape, 5, 3))
    final, ys = jit_lstm(params, xs)
    flat = xs.reshape(-1, 5, 3)
    _, c_ref, ys_ref = reference.sequence(params, flat)
    np.testing.assert_allclose(ys, ys_ref.reshape(*batch_shape, 5, 5), atol=F32)
    np.testing.assert_allclose(final.c, c_ref.reshape(*batch_shape, 5), atol=F32)


@pytest.mark.slow
@pytest.mark.parametrize("lengths", [None, [4, 1]])
def test_time_major_equals_batch_major(lengths):
    params = make()
    xs = inputs((2, 4, 3))
    lengths = None if lengths is None else np.array(lengths)
    a_state, a_ys = jit_lstm(params, xs, lengths=lengths)
    b_state, b_ys = jit_lstm(params, xs.swapaxes(0, 1), lengths=lengths, time_major=True)
    np.testing.assert_array_equal(a_ys, b_ys.swapaxes(0, 1))
    jax.tree.map(np.testing.assert_array_equal, a_state, b_state)


@pytest.mark.slow
def test_empty_time_and_batch():
    params = make(proj_size=2)
    state, ys = jit_lstm(params, inputs((3, 0, 3)))
    assert ys.shape == (3, 0, 2)
    np.testing.assert_array_equal(state.h, np.zeros((3, 2)))
    state, ys = jit_lstm(params, inputs((0, 4, 3)), lengths=np.zeros(0, int))
    assert ys.shape == (0, 4, 2) and state.c.shape == (0, 5)
