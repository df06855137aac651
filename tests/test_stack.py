"""`stack` of mixed layers against the oracle and a manual composition of `jlstm.lstm` calls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.assertions import assert_trees_close, check
from support.factories import inputs, mixed_stack, mixed_states, random_layer
from support.layers import directions, flat_states

import jlstm
from jlstm import Bidirectional

EXACT = 1e-6  # the same float32 computation composed two ways


def manual_stack(params, xs, states=None, merge_mode="concat", **options):
    """The stack written out with jlstm.lstm: backward directions run with reverse=True."""
    finals = []
    for layer, state in zip(params, states or (None,) * len(params), strict=True):
        if isinstance(layer, Bidirectional):
            forward, backward = (None, None) if state is None else state
            forward, ys_forward = jlstm.lstm(layer.forward, xs, forward, **options)
            backward, ys_backward = jlstm.lstm(
                layer.backward, xs, backward, reverse=True, **options
            )
            finals.append(Bidirectional(forward, backward))
            xs = reference.MERGES[merge_mode](ys_forward, ys_backward)
        else:
            state, xs = jlstm.lstm(layer, xs, state, **options)
            finals.append(state)
    return tuple(finals), xs


def layer_by_layer(params, xs, **options):
    """The stack written out with one jlstm.lstm or jlstm.bidirectional call per layer."""
    finals = []
    for layer in params:
        run = jlstm.bidirectional if isinstance(layer, Bidirectional) else jlstm.lstm
        state, xs = run(layer, xs, **options)
        finals.append(state)
    return tuple(finals), xs


def oracle_stack(params, xs, lengths, merge_mode="concat"):
    """The stack on the float64 NumPy oracle; final `(h, c)` per direction in PyTorch's order."""
    finals = []
    for layer in params:
        outputs = []
        for reverse, direction in zip((False, True), directions(layer), strict=False):
            h, c, ys = reference.sequence(direction, xs, lengths=lengths, reverse=reverse)
            finals.append((h, c))
            outputs.append(ys)
        xs = outputs[0] if len(outputs) == 1 else reference.MERGES[merge_mode](*outputs)
    return finals, xs


@pytest.mark.slow
def test_mixed_stack_equals_manual_composition():
    params, xs = mixed_stack(), jnp.asarray(inputs((4, 7, 3)))
    states, lengths = mixed_states((4,)), np.array([7, 0, 3, 1])
    actual, expected = jax.jit(
        lambda p, x, s: (
            jlstm.stack(p, x, s, lengths=lengths),
            manual_stack(p, x, s, lengths=lengths),
        )
    )(params, xs, states)
    assert_trees_close(actual, expected, atol=EXACT)
    assert actual[1].shape == (4, 7, 4)
    padded = np.arange(7) >= lengths[:, None]
    assert np.all(np.asarray(actual[1])[padded] == 0)


@pytest.mark.parametrize(
    "merge_mode",
    [
        "concat",
        pytest.param("sum", marks=pytest.mark.slow),
        pytest.param("mean", marks=pytest.mark.slow),
        pytest.param("mul", marks=pytest.mark.slow),
    ],
)
def test_stack_matches_oracle(merge_mode):
    if merge_mode == "concat":
        params = mixed_stack()
    else:  # directions of one output size, and the next layer reads it once
        params = (
            Bidirectional(random_layer(0, 3, 4, 3), random_layer(1, 3, 3)),
            random_layer(2, 3, 2),
        )
    xs, lengths = inputs((3, 5, 3)), np.array([5, 2, 0])
    run = jax.jit(lambda p, x: jlstm.stack(p, x, lengths=lengths, merge_mode=merge_mode))
    finals, ys = run(params, xs)
    expected_finals, expected_ys = oracle_stack(params, xs, lengths, merge_mode)
    check("ys", ys, expected_ys, EXACT)
    for (h, c), state in zip(expected_finals, flat_states(finals), strict=True):
        check("h", state.h, h, EXACT)
        check("c", state.c, c, EXACT)


@pytest.mark.slow
def test_batch_dims_and_time_major():
    params, xs = mixed_stack(), inputs((2, 3, 5, 3))
    run = jax.jit(
        lambda x, time_major: jlstm.stack(params, x, time_major=time_major), static_argnums=1
    )
    finals, ys = run(xs.reshape(6, 5, 3), False)
    expected = jax.tree.map(lambda leaf: leaf.reshape(2, 3, *leaf.shape[1:]), (finals, ys))
    assert_trees_close(run(xs, False), expected, atol=EXACT)  # two batch dims
    time_major = run(np.moveaxis(xs, 2, 0), True)
    assert_trees_close((time_major[0], np.moveaxis(time_major[1], 0, 2)), expected, atol=EXACT)


@pytest.mark.parametrize(
    "options",
    [
        {"unroll": 2, "remat": True, "dtype": jnp.bfloat16},
        {"time_major": True, "zoneout_c": 0.3, "deterministic": True},
    ],
    ids=["loop-dtype", "time-major-zoneout"],
)
def test_layer_options_reach_every_layer(options):
    # The stack is the program of one layer call per layer with the same options (so it
    # gives the same numbers, bit for bit): an option left out of any layer, even one that
    # keeps the numbers as unroll and remat do, changes the program.
    xs, lengths = inputs((2, 5, 3)), np.array([5, 3])
    if options.get("time_major"):
        xs = np.moveaxis(xs, 1, 0)
    options = dict(options, lengths=lengths)

    def stacked(params, xs):
        return jlstm.stack(params, xs, **options)

    def manual(params, xs):
        return layer_by_layer(params, xs, **options)

    params = mixed_stack()
    assert str(jax.make_jaxpr(stacked)(params, xs)) == str(jax.make_jaxpr(manual)(params, xs))
    finals, ys = jax.eval_shape(stacked, params, xs)
    dtype = options.get("dtype", jnp.float32)
    assert ys.dtype == dtype and finals[1].backward.c.dtype == jnp.float32


@pytest.mark.slow
def test_each_layer_and_direction_draws_its_own_noise():
    # Seen from outside: an input feature dropped by a direction's variational mask gives its
    # column of that direction's W_ih no gradient. Four 16-wide masks, pairwise different.
    params = (
        Bidirectional(random_layer(0, 16, 8), random_layer(1, 16, 8)),
        random_layer(2, 16, 16),
        random_layer(3, 16, 4),
    )
    xs = inputs((1, 6, 16))  # one sequence: one mask per direction

    @jax.jit
    @jax.grad
    def grad(params, key):
        _, ys = jlstm.stack(params, xs, key=key, input_dropout=0.5, dropout=0.2)
        return jnp.sum(jnp.sin(ys))

    def dropped_features(key):
        grads = grad(params, key)
        return [
            tuple(np.all(np.asarray(d.weight_ih) == 0, axis=0))
            for layer in grads
            for d in directions(layer)
        ]

    dropped = dropped_features(jax.random.key(0))
    assert len(dropped) == 4 and len(set(dropped)) == 4
    assert all(0 < sum(mask) < 16 for mask in dropped)
    assert dropped_features(jax.random.key(0)) == dropped  # one key, one draw
    assert dropped_features(jax.random.key(1)) != dropped


@pytest.mark.slow
def test_layer_dropout_needs_the_stack_key():
    params, xs = mixed_stack()[:1], jnp.asarray(inputs((2, 5, 3)))
    run = jax.jit(lambda key: jlstm.stack(params, xs, key=key, input_dropout=0.5)[1])
    plain = jax.jit(lambda: jlstm.stack(params, xs)[1])()
    evaluation = jlstm.stack(params, xs, input_dropout=0.5, deterministic=True)[1]
    np.testing.assert_array_equal(evaluation, plain)
    assert not np.allclose(run(jax.random.key(0)), plain)


@pytest.mark.slow
def test_check_grads_float64(x64):
    params, states = mixed_stack(np.float64)[1:], mixed_states((3,), np.float64)[1:]
    xs = jnp.asarray(inputs((3, 4, 5), dtype=np.float64))
    lengths, key = np.array([4, 0, 2]), jax.random.key(5)

    def loss(params, xs, states):
        finals, ys = jlstm.stack(params, xs, states, lengths=lengths, dropout=0.3, key=key)
        return jnp.sum(ys**2) + sum(jnp.sum(jnp.sin(leaf)) for leaf in jax.tree.leaves(finals))

    check_grads(jax.jit(loss), (params, xs, states), order=1, modes=("rev",))


@pytest.mark.slow
def test_vmap_over_batch_equals_batched_call():
    params, xs, lengths = mixed_stack(), jnp.asarray(inputs((4, 6, 3))), jnp.array([6, 0, 3, 1])
    batched = jax.jit(lambda x, n: jlstm.stack(params, x, lengths=n))(xs, lengths)
    mapped = jax.jit(jax.vmap(lambda x, n: jlstm.stack(params, x, lengths=n)))(xs, lengths)
    assert_trees_close(batched, mapped, atol=EXACT)
