"""`init_lstm`, `init_stack` and `zero_state`: the shapes, dtypes and values they create."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.factories import VARIANTS, make

import jlstm
from jlstm import Bidirectional

KEY = jax.random.key(0)


def init_shapes(*args, **kwargs):
    """The tree of shapes `init_stack` would create, without drawing any numbers."""
    abstract = jax.eval_shape(lambda: jlstm.init_stack(KEY, *args, **kwargs))
    return jax.tree.map(lambda leaf: leaf.shape, abstract)


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_zero_state(x64):
    params = make(proj_size=2)
    state = jlstm.zero_state(params, (2, 3))
    assert state.h.shape == (2, 3, 2) and state.c.shape == (2, 3, 5)
    assert state.c.dtype == jnp.float32
    assert not np.any(state.h) and not np.any(state.c)
    assert jlstm.zero_state(params, dtype=jnp.float64).c.dtype == jnp.float64
    assert jlstm.zero_state(params, 4).h.shape == jlstm.zero_state(params, (4,)).h.shape == (4, 2)


@pytest.mark.slow
def test_init_variants():
    plain = jlstm.init_lstm(jax.random.key(1), 3, 4, proj_size=2)
    both = jlstm.init_lstm(jax.random.key(1), 3, 4, proj_size=2, peephole=True, layer_norm=True)
    # The variants add parts; the weights drawn from the key stay the same.
    jax.tree.map(np.testing.assert_array_equal, tuple(both[:4]), tuple(plain[:4]))
    np.testing.assert_array_equal(both.weight_peephole, np.zeros((3, 4)))
    norm = both.layer_norm
    assert isinstance(norm, jlstm.LayerNorm)
    assert norm.scale_ih.shape == norm.scale_hh.shape == (16,)
    np.testing.assert_array_equal(norm.scale_c, np.ones(4))
    np.testing.assert_array_equal(norm.offset_c, np.zeros(4))

    cifg = jlstm.init_lstm(jax.random.key(1), 3, 4, cifg=True, peephole=True, layer_norm=True)
    assert cifg.weight_ih.shape == (12, 3) and cifg.weight_hh.shape == (12, 4)
    np.testing.assert_array_equal(cifg.bias, np.repeat([1.0, 0.0, 0.0], 4))  # [f; g; o]
    assert cifg.weight_peephole.shape == (2, 4) and cifg.layer_norm.scale_ih.shape == (12,)
    state = jlstm.zero_state(jlstm.init_lstm(jax.random.key(1), 3, 4, cifg=True), (2,))
    assert state.h.shape == state.c.shape == (2, 4)
    proj = jlstm.init_lstm(jax.random.key(1), 3, 4, proj_size=3, cifg=True)
    assert proj.weight_hh.shape == (12, 3)
    state = jlstm.zero_state(proj, (2,))
    assert state.h.shape == (2, 3) and state.c.shape == (2, 4)
    bf16 = jlstm.init_lstm(jax.random.key(1), 3, 4, param_dtype=jnp.bfloat16, **VARIANTS["all"])
    assert {leaf.dtype for leaf in jax.tree.leaves(bf16)} == {jnp.dtype(jnp.bfloat16)}


def test_init_stack_per_layer_sizes():
    params = init_shapes(3, [8, 6, 4], num_layers=3, proj_size=[4, None, 2], bidirectional=True)
    assert len(params) == 3 and all(isinstance(layer, Bidirectional) for layer in params)
    assert [(layer.forward.weight_ih, layer.backward.weight_hh) for layer in params] == [
        ((32, 3), (32, 4)),
        ((24, 8), (24, 6)),
        ((16, 12), (16, 2)),
    ]
    assert params[1].forward.weight_hr is None and params[2].backward.weight_hr == (2, 4)
    assert len(init_shapes(3, 5, num_layers=2, proj_size=[2, 3])) == 2


@pytest.mark.parametrize("merge_mode, width", [("concat", 12), ("sum", 6), ("mean", 6), ("mul", 6)])
def test_init_stack_sizes_inputs_for_the_merge_mode(merge_mode, width):
    params = init_shapes(3, 6, num_layers=3, bidirectional=True, merge_mode=merge_mode)
    assert [layer.forward.weight_ih for layer in params] == [(24, 3), (24, width), (24, width)]
    abstract = jax.eval_shape(
        lambda: jlstm.init_stack(KEY, 3, 6, num_layers=3, bidirectional=True, merge_mode=merge_mode)
    )
    _, ys = jax.eval_shape(
        lambda p: jlstm.stack(p, jnp.zeros((2, 5, 3)), merge_mode=merge_mode), abstract
    )
    assert ys.shape == (2, 5, width)


def test_init_stack_values():
    params = jlstm.init_stack(KEY, 3, 4, num_layers=2, bidirectional=True)
    leaves = [p for layer in params for p in layer]
    expected_bias = np.repeat([0.0, 1.0, 0.0, 0.0], 4)
    for p in leaves:
        np.testing.assert_array_equal(p.bias, expected_bias)
    weights = [np.asarray(p.weight_hh) for p in leaves]  # every layer and direction differs
    assert all(not np.array_equal(a, b) for i, a in enumerate(weights) for b in weights[i + 1 :])
    options = jlstm.init_stack(
        KEY,
        3,
        4,
        num_layers=2,
        bias=False,
        param_dtype=jnp.bfloat16,
        weight_ih_init=jax.nn.initializers.ones,
    )
    assert all(layer.bias is None for layer in options)
    assert {leaf.dtype for leaf in jax.tree.leaves(options)} == {jnp.dtype(jnp.bfloat16)}
    np.testing.assert_array_equal(np.float32(options[1].weight_ih), np.ones((16, 4)))


def test_init_stack_variants_reach_every_layer():
    params = jax.eval_shape(
        lambda: jlstm.init_stack(KEY, 3, 6, num_layers=2, bidirectional=True, peephole=True)
    )
    assert all(p.weight_peephole is not None for layer in params for p in layer)
    _, ys = jax.eval_shape(lambda p: jlstm.stack(p, jnp.zeros((2, 5, 3))), params)
    assert ys.shape == (2, 5, 12)
