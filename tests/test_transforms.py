"""`lstm` under jit, grad, vmap and jvp; unroll and remat change nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from test_sequence import inputs, make

import jlstm


def loss(params, xs, **kwargs):
    state, ys = jlstm.lstm(params, xs, **kwargs)
    return jnp.sum(ys**2) + jnp.sum(jnp.sin(state.c)) + jnp.sum(state.h)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reverse": True}, {"lengths": np.array([3, 1, 0])}, {"remat": True}],
    ids=["plain", "reverse", "lengths", "remat"],
)
@pytest.mark.parametrize("proj_size", [None, 2])
def test_check_grads_float64(x64, kwargs, proj_size):
    params = make(input_size=3, hidden_size=4, proj_size=proj_size, dtype=jnp.float64)
    xs = jnp.asarray(inputs((3, 4, 3), dtype=np.float64))
    fn = jax.jit(lambda p, x: loss(p, x, **kwargs))
    order = 2 if not kwargs else 1  # second order once per projection setting: it is slow
    check_grads(fn, (params, xs), order=order, modes=("fwd", "rev"))


def test_check_grads_cell_float64(x64):
    params = make(input_size=3, hidden_size=4, proj_size=3, dtype=jnp.float64)
    state = jlstm.LSTMState(
        *(jnp.asarray(inputs((2, n), s, np.float64)) for n, s in [(3, 1), (4, 2)])
    )
    x = jnp.asarray(inputs((2, 3), 3, np.float64))
    check_grads(jax.jit(jlstm.lstm_cell), (params, state, x), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("option", [{"unroll": 3}, {"unroll": True}, {"remat": True}])
@pytest.mark.parametrize("lengths", [None, np.array([5, 2])])
def test_unroll_and_remat_equal_default(option, lengths):
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((2, 5, 3)))
    base = jax.value_and_grad(loss, argnums=(0, 1))(params, xs, lengths=lengths)
    other = jax.value_and_grad(loss, argnums=(0, 1))(params, xs, lengths=lengths, **option)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), base, other)


def test_jit_equals_eager():
    params = make()
    xs = jnp.asarray(inputs((2, 6, 3)))
    eager = jlstm.lstm(params, xs, lengths=np.array([6, 3]))
    jitted = jax.jit(jlstm.lstm)(params, xs, lengths=jnp.array([6, 3]))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), eager, jitted)


def test_traced_lengths_are_clipped():
    params = make()
    xs = jnp.asarray(inputs((3, 4, 3)))
    clipped = jax.jit(jlstm.lstm)(params, xs, lengths=jnp.array([-2, 9, 4]))
    expected = jlstm.lstm(params, xs, lengths=np.array([0, 4, 4]))
    jax.tree.map(np.testing.assert_array_equal, clipped, expected)


def test_vmap_over_batch_equals_batched_call():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((4, 6, 3)))
    lengths = jnp.array([6, 0, 3, 1])
    batched = jlstm.lstm(params, xs, lengths=lengths, reverse=True)
    mapped = jax.vmap(lambda x, n: jlstm.lstm(params, x, lengths=n, reverse=True))(xs, lengths)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), batched, mapped)


def test_vmap_over_params_equals_separate_runs():
    ensemble = jax.vmap(lambda k: jlstm.init_lstm(k, 3, 4))(jax.random.split(jax.random.key(0), 3))
    xs = jnp.asarray(inputs((2, 5, 3)))
    mapped = jax.vmap(lambda p: jlstm.lstm(p, xs))(ensemble)
    for m in range(3):
        single = jlstm.lstm(jax.tree.map(lambda leaf, m=m: leaf[m], ensemble), xs)
        jax.tree.map(
            lambda a, b, m=m: np.testing.assert_allclose(a[m], b, atol=1e-6), mapped, single
        )


def test_jvp_matches_finite_difference(x64):
    params = make(dtype=jnp.float64)
    xs = jnp.asarray(inputs((2, 5, 3), dtype=np.float64))
    tangent = jax.tree.map(jnp.ones_like, params)
    _, out_tangent = jax.jvp(lambda p: loss(p, xs), (params,), (tangent,))
    eps = 1e-6
    shifted = jax.tree.map(lambda p, t: p + eps * t, params, tangent)
    fd = (loss(shifted, xs) - loss(params, xs)) / eps
    np.testing.assert_allclose(out_tangent, fd, rtol=1e-4)


def test_grad_of_inputs_respects_padding():
    params = make()
    xs = jnp.asarray(inputs((2, 5, 3)))
    grads = jax.grad(loss, argnums=1)(params, xs, lengths=np.array([5, 2]))
    assert np.all(np.asarray(grads)[1, 2:] == 0.0)
    assert np.all(np.abs(np.asarray(grads)[1, :2]) > 0.0)
