"""Non-finite inputs: a NaN reaches only its sequence from its step on; ±inf never turns into NaN.

- A NaN at `xs[b, t]` reaches only sequence `b`, from step `t` on (from `t` back with
  `reverse`); one in the padding reaches nothing, gradients included.
- An infinite input acts as a huge finite one: outputs and gradients stay free of NaN, and
  the handling runs once before the loop, not at every step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import all_finite, equations, loop_bodies
from support.factories import inputs, random_layer, random_params
from support.layers import run

import jlstm
from jlstm import Bidirectional

BATCH, TIME, INPUT, HIDDEN = 3, 7, 5, 4
XS = jnp.asarray(inputs((BATCH, TIME, INPUT)))


def layer(seed=0, **options):
    """A layer of `INPUT` to `HIDDEN` units with the `jlstm.init_lstm` options (variants)."""
    return random_params(seed, INPUT, HIDDEN, **options)


NAN_PATHS = {
    "kernel": {},
    "remat": {"remat": True},
    "reverse": {"reverse": True},
    "lengths": {"lengths": np.array([TIME, TIME, 5])},
    "bfloat16": {"dtype": jnp.bfloat16},
    "time-major": {"time_major": True},
    "variants": {"params": {"peephole": True, "layer_norm": True, "proj_size": 2}},
    "bidirectional-stack": {"params": "stack", "lengths": np.array([TIME, 6, 5])},
}


SLOW_NAN_PATHS = {"variants", "bidirectional-stack", "bfloat16"}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(path, marks=pytest.mark.slow) if path in SLOW_NAN_PATHS else path
        for path in NAN_PATHS
    ],
)
def test_nan_reaches_only_its_sequence_from_its_step_on(path):
    options = dict(NAN_PATHS[path])
    kind = options.pop("params", {})
    if kind == "stack":  # both directions: a NaN reaches every valid step of its sequence
        second = Bidirectional(
            random_layer(2, 2 * HIDDEN, HIDDEN), random_layer(3, 2 * HIDDEN, HIDDEN)
        )
        params = (Bidirectional(layer(0), layer(1)), second)
    else:
        params = layer(**kind)
    time_major = options.get("time_major", False)
    layout = (lambda a: np.moveaxis(a, 0, 1)) if time_major else (lambda a: a)  # involution

    compiled = jax.jit(lambda xs: run(params, xs, **options))

    def call(xs):  # in NumPy, batch-major
        states, ys = compiled(layout(xs))
        return [np.asarray(leaf) for leaf in jax.tree.leaves(states)], layout(np.asarray(ys))

    xs = np.asarray(XS)
    clean_states, clean = call(xs)
    steps, lengths = np.arange(TIME), options.get("lengths", [TIME] * BATCH)
    for b, t in [(1, 3), (0, 0), (2, TIME - 1)]:
        bad = xs.copy()
        bad[b, t, 2] = np.nan
        states, ys = call(bad)
        if kind == "stack":
            reached = steps >= 0
        else:
            reached = steps <= t if options.get("reverse") else steps >= t
        reached = reached & (t < lengths[b]) & (steps < lengths[b])
        others = np.arange(BATCH) != b
        np.testing.assert_array_equal(ys[others], clean[others])
        np.testing.assert_array_equal(ys[b, ~reached], clean[b, ~reached])
        assert np.isnan(ys[b, reached]).all()
        for new, old in zip(states, clean_states, strict=True):
            np.testing.assert_array_equal(new[others], old[others])
            if t < lengths[b]:
                assert np.isnan(new[b]).all()
            else:  # a NaN in the padding is never read
                np.testing.assert_array_equal(new[b], old[b])


@pytest.mark.slow
def test_nan_in_padding_reaches_nothing():
    params, xs, lengths = layer(), XS, np.array([TIME, 4, 0])
    bad = xs.at[1, 4:].set(jnp.nan).at[2].set(jnp.nan)

    def loss(params, xs):
        state, ys = jlstm.lstm(params, xs, lengths=lengths)
        return jnp.sum(ys) + jnp.sum(state.c), (state, ys)

    grad = jax.jit(jax.grad(loss, has_aux=True))
    jax.tree.map(np.testing.assert_array_equal, grad(params, bad), grad(params, xs))


def infinite_inputs():
    """Inputs with isolated ±inf, a whole step of -inf (log 0) and a step of mixed signs."""
    xs = XS.at[0, 2, 1].set(jnp.inf).at[0, 5, 3].set(-jnp.inf)
    xs = xs.at[1, 3, :].set(-jnp.inf)
    return xs.at[2, 0, :].set(jnp.array([1, -1, 1, -1, 1]) * jnp.inf)


INF_CASES = {  # (params options, call options)
    "kernel": ({}, {}),
    "remat": ({}, {"remat": True}),
    "lengths-reverse": ({}, {"lengths": np.array([TIME, 6, 2]), "reverse": True}),
    "bfloat16": ({}, {"dtype": jnp.bfloat16}),
    "projection": ({"proj_size": 2}, {}),
    "peephole-cifg": ({"peephole": True, "cifg": True}, {}),
    "layer-norm": ({"layer_norm": True}, {}),
    "layer-norm-bfloat16": ({"layer_norm": True}, {"dtype": jnp.bfloat16}),
    "no-bias": ({"bias": False}, {}),
}


SLOW_INF_CASES = {
    "peephole-cifg",
    "layer-norm",
    "layer-norm-bfloat16",
    "bfloat16",
    "lengths-reverse",
    "projection",
    "remat",
    "no-bias",
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.slow) if case in SLOW_INF_CASES else case
        for case in INF_CASES
    ],
)
def test_infinite_inputs_give_no_nan_in_outputs_or_gradients(case):
    params_options, options = INF_CASES[case]
    params = layer(**params_options)

    def loss(params, xs):
        state, ys = jlstm.lstm(params, xs, **options)
        return jnp.sum(ys.astype(jnp.float32) ** 2) + jnp.sum(state.c), (state, ys)

    (d_params, d_xs), (state, ys) = jax.jit(jax.grad(loss, (0, 1), has_aux=True))(
        params, infinite_inputs()
    )
    assert all_finite((d_params, d_xs, state, ys.astype(jnp.float32)))


@pytest.mark.slow
def test_infinite_inputs_saturate_like_large_ones():
    # An infinite input acts as a huge finite one: the gates it feeds saturate.
    params, xs = layer(), XS
    _, with_inf = jlstm.lstm(params, xs.at[:, 2, 1].set(jnp.inf))
    _, with_large = jlstm.lstm(params, xs.at[:, 2, 1].set(1e30))
    np.testing.assert_array_equal(with_inf, with_large)


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_infinite_whole_steps_in_layers_with_large_weights(scale):
    # Large weights and every feature infinite: W_ih x still cannot overflow into inf - inf.
    params = jax.tree.map(lambda w: w * scale, layer())
    xs = XS.at[:, 4].set(-jnp.inf).at[0, 1].set(jnp.inf)
    second = random_layer(2, HIDDEN, 3)
    stack = (params, Bidirectional(second, second))

    def loss(stack, xs):
        return jnp.sum(jlstm.stack(stack, xs)[1] ** 2)

    assert all_finite(jax.jit(jax.grad(loss, (0, 1)))(stack, xs))


def handles_infinities(eqn):
    """Whether an equation is part of the infinity handling: isinf, copysign, a literal inf."""
    name = eqn.params.get("name", "") if eqn.primitive.name in ("pjit", "jit") else ""
    literal_inf = any(
        np.ndim(getattr(var, "val", 0)) == 0 and np.isinf(getattr(var, "val", 0))
        for var in eqn.invars
    )
    return name in ("isinf", "copysign") or literal_inf


@pytest.mark.parametrize("options", [{}, {"remat": True}, {"lengths": np.array([7, 2, 5])}])
def test_infinity_handling_stays_out_of_the_loop(options):
    # Forward and backward: the handling is in the program, once, and in no loop body.
    params = layer()

    def loss(params, xs):
        return jnp.sum(jlstm.lstm(params, xs, **options)[1])

    program = jax.make_jaxpr(jax.value_and_grad(loss, (0, 1)))(params, XS)
    bodies = loop_bodies(program)
    assert bodies
    assert any(handles_infinities(eqn) for eqn in equations(program, into_loops=False))
    assert not any(handles_infinities(eqn) for body in bodies for eqn in equations(body))
