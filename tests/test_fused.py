"""The fused default path (custom backward pass) against plain `lax.scan` autodiff."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from test_sequence import inputs, make

import jlstm


def loss(params, state, xs, **kwargs):
    final, ys = jlstm.lstm(params, xs, state, **kwargs)
    return jnp.sum(jnp.sin(ys)) + jnp.sum(final.h**2) + jnp.sum(jnp.cos(final.c))


@pytest.mark.parametrize("proj_size", [None, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_shape", [(), (4,), (2, 3)])
def test_fused_gradients_equal_scan_autodiff(proj_size, bias, batch_shape):
    params = make(input_size=3, hidden_size=5, proj_size=proj_size, bias=bias)
    out = params.weight_hh.shape[1]
    state = jlstm.LSTMState(
        jnp.asarray(inputs((*batch_shape, out), 2)), jnp.asarray(inputs((*batch_shape, 5), 3))
    )
    xs = jnp.asarray(inputs((*batch_shape, 6, 3)))
    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)), static_argnames="jvp")
    fused, scan = grad(params, state, xs, jvp=False), grad(params, state, xs, jvp=True)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), fused, scan)


def test_fused_forward_is_bitwise_the_scan_forward():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((3, 7, 3)))
    fused = jax.jit(jlstm.lstm)(params, xs)
    scan = jax.jit(lambda p, x: jlstm.lstm(p, x, jvp=True))(params, xs)
    jax.tree.map(np.testing.assert_array_equal, fused, scan)


@pytest.mark.parametrize("proj_size", [None, 2])
def test_fused_check_grads_reverse_order_2(x64, proj_size):
    params = make(input_size=3, hidden_size=4, proj_size=proj_size, dtype=jnp.float64)
    state = jlstm.zero_state(params, (2,))
    xs = jnp.asarray(inputs((2, 4, 3), dtype=np.float64))
    check_grads(jax.jit(loss), (params, state, xs), order=2, modes=("rev",))


def test_forward_mode_needs_jvp_flag():
    params = make()
    xs = jnp.asarray(inputs((2, 4, 3)))
    tangent = jax.tree.map(jnp.ones_like, params)
    _, scan_tangent = jax.jvp(lambda p: jlstm.lstm(p, xs, jvp=True)[1], (params,), (tangent,))
    assert np.all(np.isfinite(scan_tangent))
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda p: jlstm.lstm(p, xs)[1], (params,), (tangent,))


def test_empty_sequences_take_the_scan_path():
    params = make()
    grads = jax.grad(lambda x: jnp.sum(jlstm.lstm(params, x)[1]))(jnp.zeros((2, 0, 3)))
    assert grads.shape == (2, 0, 3)
    grads = jax.grad(lambda x: jnp.sum(jlstm.lstm(params, x)[1]))(jnp.zeros((0, 4, 3)))
    assert grads.shape == (0, 4, 3)


def test_remat_keeps_a_long_sequence_small():
    # B=4, T=100,000, I=16, H=32: XLA's temp memory for forward+backward, from the compiler.
    params = jlstm.init_lstm(jax.random.key(0), 16, 32)
    xs = jax.ShapeDtypeStruct((4, 100_000, 16), jnp.float32)

    def loss(p, x):
        return jnp.sum(jlstm.lstm(p, x, remat=True)[1])

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 200e6


@pytest.mark.parametrize("batch, time, hidden", [(16, 200, 32), (4, 500, 16), (1, 300, 16)])
def test_backward_reuses_the_saved_gate_factors(batch, time, hidden):
    # The residuals hold one (time, batch, 4H) buffer of gate factors p_t; the backward loop
    # writes dz_t over p_t. A second buffer of that size (3.07x in total) would fail this.
    params = jlstm.init_lstm(jax.random.key(0), 8, hidden)
    xs = jax.ShapeDtypeStruct((batch, time, 8), jnp.float32)

    def loss(p, x):
        return jnp.sum(jlstm.lstm(p, x)[1])

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs).compile()
    gate_buffer = time * batch * 4 * hidden * 4
    assert compiled.memory_analysis().temp_size_in_bytes < 2.5 * gate_buffer
    # In place: no copy of the whole buffer, which XLA adds to every loop step when a step
    # both reads and writes the buffer inside one fusion (8-25x slower at T=1000; with one
    # row, XLA fuses the read into the matrix product unless p_t is read a step ahead).
    whole_copy = rf"= f32\[{time},{batch},{4 * hidden}\]\{{[0-9,]+\}} copy\("
    assert not re.search(whole_copy, compiled.as_text())
