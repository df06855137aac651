"""`jlstm.convert` against `equinox.nn.LSTMCell`: round trips and outputs.

Every test imports Equinox and runs its cells, so all are slow. Run with `-s` to see the
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

EQUINOX = 1e-5  # abs tolerance of float32 outputs against Equinox
BATCH, TIME, INPUT, HIDDEN = 3, 5, 4, 6

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eqx():
    return pytest.importorskip("equinox")


def run_equinox(cell, xs, h0, c0):
    """Equinox cells take one example: vmap over the batch, loop over time."""
    step = jax.jit(jax.vmap(cell))
    state, outputs = (h0, c0), []
    for t in range(xs.shape[1]):
        state = step(xs[:, t], state)
        outputs.append(state[0])
    return jnp.stack(outputs, axis=1), state


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
def test_equinox_round_trip_and_outputs(eqx, use_bias):
    cell = eqx.nn.LSTMCell(INPUT, HIDDEN, use_bias=use_bias, key=jax.random.key(0))
    params = convert.from_equinox(cell)
    assert (params.bias is None) == (not use_bias)
    other = eqx.nn.LSTMCell(INPUT, HIDDEN, use_bias=use_bias, key=jax.random.key(1))
    back = convert.to_equinox(params, other)
    assert type(back) is type(cell)
    assert_same_tree(back, cell)
    assert_same_tree(convert.from_equinox(back), params)

    xs = jnp.asarray(inputs((BATCH, TIME, INPUT)))
    h0, c0 = (jnp.asarray(inputs((BATCH, HIDDEN), seed)) for seed in (2, 3))
    outputs, (h, c) = run_equinox(cell, xs, h0, c0)
    state, ys = jlstm.lstm(params, xs, jlstm.LSTMState(h=h0, c=c0))
    check("equinox outputs", ys, outputs, EQUINOX)
    check("equinox h", state.h, h, EQUINOX)
    check("equinox c", state.c, c, EQUINOX)


def test_params_without_bias_go_into_a_cell_with_bias_as_zeros(eqx):
    params = random_params(2, INPUT, HIDDEN, bias=False)
    cell = convert.to_equinox(params, eqx.nn.LSTMCell(INPUT, HIDDEN, key=jax.random.key(3)))
    np.testing.assert_array_equal(cell.bias, np.zeros(4 * HIDDEN, np.float32))
    np.testing.assert_array_equal(cell.weight_hh, params.weight_hh)
