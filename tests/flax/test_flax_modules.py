"""`jlstm.flax.LSTM` (linen) and `NNXLSTM` give the functional API's params and numbers.

Both modules share everything past their plumbing: the options, dtypes, initialisers and
loop flags reach the functional calls they make.
"""

import importlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from support.assertions import assert_same_tree
from support.factories import inputs
from support.modules import FEATURES, build, functional, pure

import jlstm
from jlstm import flax as jflax

CONFIGS = {
    "layer": {},
    "bidirectional": {"bidirectional": True},
    "stack": {"num_layers": 2, "bidirectional": True, "proj_size": 2, "bias": False},
    "stack-sum": {"num_layers": 2, "bidirectional": True, "merge_mode": "sum"},
}
FLAGS = [(True, False), (False, False), (True, True), (False, True)]


def merge_mode(config):
    return {"merge_mode": config["merge_mode"]} if "merge_mode" in config else {}


# The modules share everything past their plumbing: NNX runs on fewer configs.
@pytest.mark.parametrize(
    "kind, config",
    [
        ("linen", "layer"),
        # "bidirectional" on its own is a part of "stack" (and of "stack-sum").
        *(pytest.param("linen", name, marks=pytest.mark.slow) for name in ("stack", "stack-sum")),
        ("nnx", "layer"),
        pytest.param("nnx", "stack", marks=pytest.mark.slow),
    ],
)
def test_params_and_numbers_are_the_functional_apis(kind, config):
    config = CONFIGS[config]
    xs, lengths = inputs((2, 5, 4)), np.array([5, 2])
    params, call = build(kind, xs, return_state=True, **config)

    init = {"num_layers": 1} | {
        name: value for name, value in config.items() if name != "merge_mode"
    }
    expected = jlstm.init_stack(jax.random.key(0), 4, FEATURES, **init)
    expected = expected[0] if config.get("num_layers", 1) == 1 else expected
    assert jax.tree.structure(params) == jax.tree.structure(expected)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    if "merge_mode" not in config:
        assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, expected)
    else:  # layer 1 reads the sum of both directions: FEATURES wide, not 2 * FEATURES
        assert params[1].backward.weight_ih.shape == (4 * FEATURES, FEATURES)

    mask = np.array([[True, False, True, True, False], [False, True, True, False, True]])
    for options in ({}, {"lengths": lengths}, {"mask": mask}):
        ys, *states = call(xs, **options)
        final, ys_ref = functional(params, xs, **options, **merge_mode(config))
        assert_same_tree(ys, ys_ref)
        assert_same_tree(states, jax.tree.leaves(final))


@pytest.mark.parametrize(
    "kind, config",
    [
        pytest.param("linen", "layer", marks=pytest.mark.slow),
        pytest.param("linen", "stack-sum", marks=pytest.mark.slow),
        pytest.param("nnx", "stack-sum", marks=pytest.mark.slow),
    ],
)
def test_last_output_time_major_and_initial_state(kind, config):
    config = CONFIGS[config]
    xs = inputs((5, 2, 4))  # (time, batch, features)
    options = dict(config, time_major=True, return_sequences=False, return_state=True)
    params, call = build(kind, xs, **options)
    zero, _ = functional(params, xs, time_major=True, **merge_mode(config))
    state = jax.tree.map(lambda leaf: leaf + 0.5, zero)
    final, _ = functional(params, xs, state, time_major=True, **merge_mode(config))
    output, *states = call(xs, initial_state=state)
    assert_same_tree(states, jax.tree.leaves(final))
    last = final[-1] if config.get("num_layers", 1) > 1 else final  # the last layer's
    bidirectional = isinstance(last, jlstm.Bidirectional)  # merged like the outputs: "sum"
    assert_same_tree(output, last.forward.h + last.backward.h if bidirectional else last.h)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_inputs_follow_flax_dtype_promotion(kind, x64):
    # As nn.Dense: float64 data computes in float64 with float32 params; float16 and NumPy
    # inputs are promoted to the params' float32; the state keeps the params' dtype.
    xs = np.random.default_rng(5).normal(size=(2, 5, 4))
    params, call = build(kind, jnp.asarray(xs, jnp.float32), return_state=True)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    ys, _, c = call(jnp.asarray(xs))
    final, expected = jlstm.lstm(params, jnp.asarray(xs), dtype=jnp.float64)
    assert ys.dtype == jnp.float64 and c.dtype == jnp.float32
    np.testing.assert_array_equal(ys, expected)
    np.testing.assert_array_equal(c, final.c)
    half = jnp.asarray(xs, jnp.float16)
    ys_half, _, _ = call(half)
    assert ys_half.dtype == jnp.float32
    np.testing.assert_array_equal(ys_half, jlstm.lstm(params, half.astype(jnp.float32))[1])
    ys_numpy, _, _ = call(xs.tolist())
    np.testing.assert_array_equal(ys_numpy, ys)
    if kind == "linen":  # init reads float64 data too, and keeps param_dtype
        variables = jflax.LSTM(features=FEATURES).init(jax.random.key(7), jnp.asarray(xs))
        assert variables["params"]["lstm"].weight_ih.dtype == jnp.float32


@pytest.mark.slow
def test_return_flags_give_keras_structure():
    xs = inputs((2, 5, 4))
    model = jflax.LSTM(features=FEATURES)
    variables = jax.jit(model.init)(jax.random.key(0), xs)
    final, ys = functional(variables["params"]["lstm"], xs)
    np.testing.assert_array_equal(ys[:, -1], final.h)
    expected = [ys, final.h, (ys, final.h, final.c), (final.h, final.h, final.c)]

    @jax.jit
    def linen_results(variables, xs):
        clones = [model.clone(return_sequences=seq, return_state=state) for seq, state in FLAGS]
        return [clone.apply(variables, xs) for clone in clones]

    nnx_model = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0))
    nnx_model.load(variables["params"]["lstm"])
    nnx_results = []
    for sequences, state in FLAGS:
        nnx_model.return_sequences, nnx_model.return_state = sequences, state
        nnx_results.append(nnx_model(xs))
    assert_same_tree(linen_results(variables, xs), expected)
    for actual, desired in zip(nnx_results, expected, strict=True):
        for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
            np.testing.assert_allclose(a, d, atol=1e-6)  # eager against jitted


@pytest.mark.slow
def test_default_and_custom_initialisers():
    xs = inputs((2, 5, 4))
    params, _ = build("linen", xs)
    np.testing.assert_array_equal(params.bias, np.repeat([0.0, 1.0, 0.0, 0.0], FEATURES))
    w = np.asarray(params.weight_hh, np.float64)  # (4*features, features), orthonormal columns
    np.testing.assert_allclose(w.T @ w, np.eye(FEATURES), atol=1e-5)
    limit = np.sqrt(6 / (4 + 4 * FEATURES))  # Glorot uniform of a (12, 4) matrix
    assert np.abs(params.weight_ih).max() <= limit

    custom = {
        "weight_ih_init": jax.nn.initializers.zeros,
        "bias_init": jax.nn.initializers.ones,
        "forget_bias": 0.0,
        "param_dtype": jnp.bfloat16,
        "dtype": jnp.float32,
    }
    linen_params = jflax.LSTM(FEATURES, **custom).init(jax.random.key(0), xs)["params"]["lstm"]
    model = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0), **custom)
    for params in (linen_params, model.params):
        np.testing.assert_array_equal(params.weight_ih, 0)
        np.testing.assert_array_equal(params.bias, 1)
        assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(jnp.bfloat16)}
    assert_same_tree(model(xs), jlstm.lstm(model.params, xs, dtype=jnp.float32)[1])


@pytest.mark.slow
def test_loop_options_reach_every_layer():
    # unroll / remat select how the loop runs, not what it computes. (NNX hands the options
    # to the functional API through the same code as linen.)
    xs = inputs((2, 6, 4))
    options = {"num_layers": 2, "bidirectional": True, "unroll": 2, "remat": True}
    params, call = pure("linen", xs, **options)
    loop = {"unroll": 2, "remat": True}
    np.testing.assert_allclose(call(xs), jlstm.stack(params, xs, **loop)[1], atol=1e-6)
    tangent = inputs(xs.shape, seed=2)
    _, tangent_out = jax.jvp(call, (xs,), (tangent,))
    _, expected = jax.jvp(lambda x: jlstm.stack(params, x, **loop)[1], (xs,), (tangent,))
    np.testing.assert_allclose(tangent_out, expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_checks_option_reports_through_checked(kind):
    xs = jnp.asarray(inputs((2, 5, 4))).at[1, 3, 0].set(jnp.nan)
    _, call = pure(kind, xs, checks=True)  # linen's init skips the checks
    with pytest.raises(jlstm.LSTMValueError, match=r"xs\[1, 3, 0\]"):
        jlstm.checked(jax.jit(call))(xs)
    _, unchecked = pure(kind, xs)
    assert np.isnan(np.asarray(unchecked(xs))[1, 3:]).all()


def test_helpful_error_without_flax(monkeypatch):
    for name in list(sys.modules):
        if name.split(".")[0] == "flax" or name.startswith("jlstm.flax"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "flax", None)  # what `import flax` sees when missing
    with pytest.raises(ImportError, match=r"pip install 'jlstm\[flax\]'"):
        importlib.import_module("jlstm.flax")
