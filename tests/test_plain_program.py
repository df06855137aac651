"""A variant or option that is off costs nothing: the plain program, bit for bit.

The plain loop body and cell hold the textbook equations and no more; the general path
(`return_gates`) and zero peepholes give the plain numbers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import loop_bodies, ulp_close
from support.factories import inputs, make
from support.layers import jit_cell, jit_lstm

import jlstm


@pytest.mark.slow
def test_zero_peephole_equals_plain():
    params = make(proj_size=2)
    zero_peephole = params._replace(weight_peephole=jnp.zeros((3, 5)))
    xs = jnp.asarray(inputs((3, 6, 3)))
    state = jlstm.zero_state(params, (3,))
    jax.tree.map(
        np.testing.assert_array_equal,  # one step: the same operations, bit for bit
        jit_cell(params, state, xs[:, 0]),
        jit_cell(zero_peephole, state, xs[:, 0]),
    )
    kwargs = {"lengths": np.array([6, 2, 0]), "reverse": True}
    ulp_close(jit_lstm(params, xs, **kwargs), jit_lstm(zero_peephole, xs, **kwargs))


def test_variants_off_give_the_plain_program():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((2, 4, 3)))
    off = {
        "mask": None,
        "resets": None,
        "input_dropout": 0.0,
        "recurrent_dropout": 0.0,
        "zoneout_h": 0.0,
        "zoneout_c": 0.0,
        "key": None,
        "return_gates": False,
    }
    off_init = {"peephole": False, "layer_norm": False, "cifg": False}
    init_off = jax.eval_shape(lambda: jlstm.init_lstm(jax.random.key(0), 3, 5, **off_init))
    assert init_off.weight_peephole is None and init_off.layer_norm is None
    assert init_off.weight_ih.shape == (20, 3)
    # The same program (hence the same numbers, bit for bit) as without the options.
    default = jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x))(params, xs)
    explicit = jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x, **off))(params, xs)
    assert str(default) == str(explicit)
    # Dropout rates in evaluation mode are a no-op: the same program.
    no_key = {"input_dropout": 0.5, "recurrent_dropout": 0.5, "deterministic": True}
    assert str(jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x, **no_key))(params, xs)) == str(default)
    # A key with zero rates changes nothing either.
    key = jax.random.key(0)
    assert str(jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x, key=key))(params, xs)) == str(default)


def _minimal_step(w_ih_t, w_hh_t, bias, w_hr_t, state, x):
    """The textbook step, written out by hand: the plain loop body may hold no more."""
    h, c = state
    z = jnp.matmul(x, w_ih_t, preferred_element_type=jnp.float32)
    z = z + jnp.matmul(h, w_hh_t, preferred_element_type=jnp.float32)
    z = z + bias.reshape(1, -1)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jnp.matmul(jax.nn.sigmoid(o) * jnp.tanh(c), w_hr_t, preferred_element_type=jnp.float32)
    return h, c


def _primitives(jaxpr):
    return [eqn.primitive.name for eqn in jaxpr.eqns]


@pytest.mark.parametrize("lengths", [False, True])
def test_plain_loop_body_is_the_bare_equations(lengths):
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((2, 4, 3)))
    n = jnp.array([4, 2])

    def minimal(params, xs, n):
        weights = (params.weight_ih.T, params.weight_hh.T, params.bias, params.weight_hr.T)
        state = (jnp.zeros((2, 2)), jnp.zeros((2, 5)))

        def body(state, inputs):
            x, read = inputs
            if lengths:  # a step that is not read reads x as 0 (its factors stay finite)
                x = jnp.where(read.reshape(2, 1), x, 0)
            new = _minimal_step(*weights, state, x)
            if not lengths:
                return new, new[0]
            # Steps that are not read carry the state through and output 0.
            new = tuple(
                jnp.where(read.reshape(2, 1), a, b) for a, b in zip(new, state, strict=True)
            )
            return new, jnp.where(read.reshape(2, 1), new[0], 0)

        return jax.lax.scan(body, state, (jnp.moveaxis(xs, 1, 0), jnp.arange(4)[:, None] < n[None]))

    ours = jax.make_jaxpr(lambda p, x, n: jlstm.lstm(p, x, lengths=n if lengths else None))
    (body,) = loop_bodies(ours(params, xs, n))
    (expected,) = loop_bodies(jax.make_jaxpr(minimal)(params, xs, n))
    print(f"loop body: {len(body.eqns)} equations, hand-written: {len(expected.eqns)}")
    assert sorted(_primitives(body)) == sorted(_primitives(expected))


def test_plain_cell_is_the_bare_equations():
    params = make(proj_size=2)
    state, x = jlstm.zero_state(params, (2,)), jnp.asarray(inputs((2, 3)))

    def minimal(params, state, x):
        weights = (params.weight_ih.T, params.weight_hh.T, params.bias, params.weight_hr.T)
        return _minimal_step(*weights, state, x)

    ours = jax.make_jaxpr(jlstm.lstm_cell)(params, state, x).jaxpr
    expected = jax.make_jaxpr(minimal)(params, state, x).jaxpr
    assert sorted(_primitives(ours)) == sorted(_primitives(expected))


@pytest.mark.slow
def test_general_path_equals_plain():
    # return_gates takes the general loop with the variant cell; with no variant it runs
    # the same operations as the plain cell.
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((3, 5, 3)))
    lengths = np.array([5, 1, 3])
    for kwargs in ({}, {"lengths": lengths, "reverse": True}):
        state, ys = jit_lstm(params, xs, **kwargs)
        state_g, trace = jit_lstm(params, xs, return_gates=True, **kwargs)
        ulp_close(ys, trace.h)
        ulp_close(state, state_g)
    cell_state = jlstm.zero_state(params, (3,))
    plain = jit_cell(params, cell_state, xs[:, 0])
    state_g, trace = jit_cell(params, cell_state, xs[:, 0], return_gates=True)
    np.testing.assert_array_equal(plain[1], trace.h)
    jax.tree.map(np.testing.assert_array_equal, plain[0], state_g)
