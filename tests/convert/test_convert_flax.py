"""`jlstm.convert` against Flax linen and NNX LSTM cells: round trips and outputs.

Every test imports Flax and runs its cells, so all are slow. Run with `-s` to see the
largest errors observed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree, check
from support.convert import random_params
from support.factories import inputs

import jlstm
from jlstm import convert

FLAX = 1e-5  # abs tolerance of float32 outputs against Flax
BATCH, TIME, INPUT, HIDDEN = 3, 5, 4, 6
BIAS_INIT = jax.nn.initializers.normal(0.5)  # Flax's default is zeros, which hides errors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nn():
    return pytest.importorskip("flax.linen")


@pytest.fixture(scope="module")
def nnx():
    return pytest.importorskip("flax.nnx")


def sequence():
    """Inputs and a Flax carry `(c, h)`."""
    xs = jnp.asarray(inputs((BATCH, TIME, INPUT)))
    return xs, (jnp.asarray(inputs((BATCH, HIDDEN), 2)), jnp.asarray(inputs((BATCH, HIDDEN), 3)))


def compare_outputs(name, step, params, xs, carry):
    """Step a Flax cell `(carry, x) -> (carry, h)` over time and compare with `jlstm.lstm`."""
    state, ys = jlstm.lstm(params, xs, convert.state_from_flax(carry))
    outputs = []
    for t in range(TIME):
        carry, h = step(carry, xs[:, t])
        outputs.append(h)
    check(f"{name} outputs", ys, jnp.stack(outputs, axis=1), FLAX)
    final = convert.state_from_flax(carry)
    check(f"{name} h", state.h, final.h, FLAX)
    check(f"{name} c", state.c, final.c, FLAX)


@pytest.mark.parametrize("cell_type", ["LSTMCell", "OptimizedLSTMCell"])
def test_linen_round_trip_and_outputs(nn, cell_type):
    xs, carry = sequence()
    cell = getattr(nn, cell_type)(HIDDEN, bias_init=BIAS_INIT)
    variables = cell.init(jax.random.key(0), carry, xs[:, 0])
    params = convert.from_flax(variables)
    assert_same_tree(convert.from_flax(variables["params"]), params)
    assert_same_tree(convert.to_flax(params), variables)  # both linen cells share one layout
    compare_outputs(
        f"linen {cell_type}", jax.jit(lambda c, x: cell.apply(variables, c, x)), params, xs, carry
    )


@pytest.mark.parametrize(
    ("cell_type", "layout"), [("LSTMCell", "nnx"), ("OptimizedLSTMCell", "nnx_optimized")]
)
def test_nnx_round_trip_and_outputs(nnx, cell_type, layout):
    xs, carry = sequence()
    cell = getattr(nnx, cell_type)(INPUT, HIDDEN, bias_init=BIAS_INIT, rngs=nnx.Rngs(0))
    state = nnx.state(cell, nnx.Param)
    params = convert.from_flax(state)
    assert_same_tree(convert.from_flax(nnx.to_pure_dict(state)), params)
    assert_same_tree(convert.to_flax(params, layout=layout), nnx.to_pure_dict(state))

    target = getattr(nnx, cell_type)(INPUT, HIDDEN, rngs=nnx.Rngs(1))
    nnx.update(target, convert.to_flax(params, layout=layout))
    compare_outputs(f"nnx {cell_type}", target, params, xs, carry)


def test_linen_params_load_into_nnx(nn, nnx):
    xs, carry = sequence()
    variables = nn.LSTMCell(HIDDEN, bias_init=BIAS_INIT).init(jax.random.key(2), carry, xs[:, 0])
    params = convert.from_flax(variables)
    cell = nnx.OptimizedLSTMCell(INPUT, HIDDEN, rngs=nnx.Rngs(0))
    nnx.update(cell, convert.to_flax(params, layout="nnx_optimized"))
    compare_outputs("linen -> nnx optimized", cell, params, xs, carry)


def test_params_without_bias_are_written_as_zeros(nn):
    xs, carry = sequence()
    params = random_params(3, INPUT, HIDDEN, bias=False)
    variables = convert.to_flax(params)
    assert all(not np.any(variables["params"][f"h{g}"]["bias"]) for g in "ifgo")
    compare_outputs(
        "no bias", lambda c, x: nn.LSTMCell(HIDDEN).apply(variables, c, x), params, xs, carry
    )


def test_state_order_matches_flax_carry(nn):
    xs, carry = sequence()
    cell = nn.LSTMCell(HIDDEN)
    variables = cell.init(jax.random.key(4), carry, xs[:, 0])
    (c, h), out = cell.apply(variables, carry, xs[:, 0])
    state = convert.state_from_flax((c, h))
    assert state.h is h and state.c is c
    assert jnp.array_equal(out, state.h)
    assert_same_tree(jax.jit(convert.state_to_flax)(state), (c, h))
