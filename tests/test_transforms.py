"""`lstm` under jit, grad, vmap and jvp; unroll and remat change nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support.assertions import assert_trees_close
from support.factories import inputs, make

import jlstm


def loss(params, xs, **kwargs):
    state, ys = jlstm.lstm(params, xs, **kwargs)
    return jnp.sum(ys**2) + jnp.sum(jnp.sin(state.c)) + jnp.sum(state.h)


# Second order, and reverse with every other option: tests/test_kernel.py; the cell below.
@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, proj_size",
    [({"lengths": np.array([3, 1, 0])}, 2), ({"remat": True}, None)],
    ids=["lengths-proj", "remat"],
)
def test_check_grads_float64(x64, kwargs, proj_size):
    params = make(input_size=3, hidden_size=4, proj_size=proj_size, dtype=jnp.float64)
    xs = jnp.asarray(inputs((3, 4, 3), dtype=np.float64))
    fn = jax.jit(lambda p, x: loss(p, x, **kwargs))
    check_grads(fn, (params, xs), order=1, modes=("fwd", "rev"))


@pytest.mark.slow
def test_check_grads_cell_float64(x64):
    params = make(input_size=3, hidden_size=4, proj_size=3, dtype=jnp.float64)
    state = jlstm.LSTMState(
        *(jnp.asarray(inputs((2, n), s, np.float64)) for n, s in [(3, 1), (4, 2)])
    )
    x = jnp.asarray(inputs((2, 3), 3, np.float64))
    check_grads(jax.jit(jlstm.lstm_cell), (params, state, x), order=2, modes=("fwd", "rev"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "option, lengths",
    [
        ({"unroll": 3}, None),
        ({"unroll": True}, np.array([5, 2])),
        ({"remat": True}, np.array([5, 2])),
    ],
    ids=["unroll-3", "unroll-all-lengths", "remat-lengths"],
)
def test_unroll_and_remat_equal_default(option, lengths):
    params, xs = make(proj_size=2), inputs((2, 5, 3))
    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)), static_argnames=tuple(option))
    base = grad(params, xs, lengths=lengths)
    assert_trees_close(grad(params, xs, lengths=lengths, **option), base, atol=1e-6, rtol=1e-6)


@pytest.mark.slow
def test_jit_equals_eager():
    params = make()
    xs = jnp.asarray(inputs((2, 6, 3)))
    eager = jlstm.lstm(params, xs, lengths=np.array([6, 3]))
    jitted = jax.jit(jlstm.lstm)(params, xs, lengths=jnp.array([6, 3]))
    assert_trees_close(eager, jitted, atol=1e-6)


@pytest.mark.slow
def test_vmap_over_batch_equals_batched_call():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((4, 6, 3)))
    lengths = jnp.array([6, 0, 3, 1])
    batched = jax.jit(lambda x, n: jlstm.lstm(params, x, lengths=n, reverse=True))(xs, lengths)
    mapped = jax.jit(jax.vmap(lambda x, n: jlstm.lstm(params, x, lengths=n, reverse=True)))
    assert_trees_close(batched, mapped(xs, lengths), atol=1e-6)


@pytest.mark.slow
def test_vmap_over_params_equals_separate_runs():
    keys = jax.random.split(jax.random.key(0), 3)
    ensemble = jax.jit(jax.vmap(lambda k: jlstm.init_lstm(k, 3, 4)))(keys)
    xs = jnp.asarray(inputs((2, 5, 3)))
    mapped = jax.jit(jax.vmap(lambda p: jlstm.lstm(p, xs)))(ensemble)
    run = jax.jit(lambda p: jlstm.lstm(p, xs))
    for m in range(3):
        single = run(jax.tree.map(lambda leaf, m=m: leaf[m], ensemble))
        assert_trees_close(jax.tree.map(lambda leaf, m=m: leaf[m], mapped), single, atol=1e-6)


def test_grad_of_inputs_respects_padding():
    params, xs = make(), inputs((2, 5, 3))
    grads = jax.jit(jax.grad(lambda xs: loss(params, xs, lengths=np.array([5, 2]))))(xs)
    assert np.all(np.asarray(grads)[1, 2:] == 0.0)
    assert np.all(np.abs(np.asarray(grads)[1, :2]) > 0.0)
