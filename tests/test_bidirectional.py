"""`bidirectional` against the NumPy oracle, and its layouts, gradients and states."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.assertions import check, loop_bodies
from support.factories import inputs, make, random_layer, random_state

import jlstm
from jlstm import Bidirectional

F32 = 1e-6  # abs tolerance of float32 values against the float64 oracle


def pair(equal_sizes=False, dtype=np.float32):
    """A bidirectional layer on 3 features: outputs 2 + 3, or 3 + 3 with `equal_sizes`."""
    forward = random_layer(0, 3, 4, 3 if equal_sizes else 2, dtype=dtype)
    return Bidirectional(forward, random_layer(1, 3, 3, dtype=dtype))


def run(merge_mode="concat", time_major=False):
    return jax.jit(
        lambda p, x, s, n: jlstm.bidirectional(
            p, x, s, lengths=n, merge_mode=merge_mode, time_major=time_major
        )
    )


# ---------------------------------------------------------------------------------------------
# Against the NumPy oracle
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "merge_mode, lengths",
    [
        pytest.param("concat", None, marks=pytest.mark.slow),
        ("concat", [6, 0, 3, 1]),
        pytest.param("sum", [6, 0, 3, 1], marks=pytest.mark.slow),
        pytest.param("mean", [6, 0, 3, 1], marks=pytest.mark.slow),
        pytest.param("mul", [6, 0, 3, 1], marks=pytest.mark.slow),
        pytest.param(None, [6, 0, 3, 1], marks=pytest.mark.slow),
    ],
)
def test_matches_oracle(merge_mode, lengths):
    params = pair(equal_sizes=merge_mode not in ("concat", None))
    xs = inputs((4, 6, 3))
    state = Bidirectional(*(random_state(s, p, (4,)) for s, p in zip((2, 4), params, strict=True)))
    lengths = None if lengths is None else np.asarray(lengths)
    final, ys = run(merge_mode)(params, xs, state, lengths)

    h_f, c_f, ys_f = reference.sequence(params.forward, xs, *state.forward, lengths=lengths)
    h_b, c_b, ys_b = reference.sequence(params.backward, xs, *state.backward, lengths, True)
    for name, actual, desired in [
        ("forward h", final.forward.h, h_f),
        ("forward c", final.forward.c, c_f),
        ("backward h", final.backward.h, h_b),
        ("backward c", final.backward.c, c_b),
    ]:
        check(name, actual, desired, F32)
    if merge_mode is None:
        assert isinstance(ys, Bidirectional)
        check("ys forward", ys.forward, ys_f, F32)
        check("ys backward", ys.backward, ys_b, F32)
    else:
        check("ys", ys, reference.MERGES[merge_mode](ys_f, ys_b), F32)
    if lengths is not None:
        padded = np.arange(6) >= lengths[:, None]
        assert all(np.all(np.asarray(y)[padded] == 0) for y in jax.tree.leaves(ys))
        empty = lengths == 0  # length 0 keeps the initial state in both directions
        jax.tree.map(
            lambda a, b: np.testing.assert_array_equal(np.asarray(a)[empty], np.asarray(b)[empty]),
            final,
            state,
        )


@pytest.mark.slow
def test_backward_reads_only_the_valid_part():
    params, xs, lengths = pair(), inputs((3, 6, 3)), np.array([6, 2, 4])
    noisy = xs.copy()
    for b, n in enumerate(lengths):
        noisy[b, n:] = 1e3
    fn = run()
    jax.tree.map(
        np.testing.assert_array_equal,
        fn(params, xs, None, lengths),
        fn(params, noisy, None, lengths),
    )
    full = fn(params, xs, None, np.full(3, 6))
    unpadded = run()(params, xs, None, None)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-7), full, unpadded)


@pytest.mark.slow
@pytest.mark.parametrize("batch_shape", [(), (2, 3)])
def test_any_leading_batch_dims(batch_shape):
    params, xs = pair(), inputs((*batch_shape, 5, 3))
    final, ys = jlstm.bidirectional(params, xs)
    _, _, ys_f = reference.sequence(params.forward, xs.reshape(-1, 5, 3))
    h_b, _, ys_b = reference.sequence(params.backward, xs.reshape(-1, 5, 3), reverse=True)
    check("ys", ys, np.concatenate([ys_f, ys_b], -1).reshape(*batch_shape, 5, 5), F32)
    check("backward h", final.backward.h, h_b.reshape(*batch_shape, 3), F32)


@pytest.mark.slow
def test_time_major_equals_batch_major():
    params, xs, lengths = pair(), inputs((3, 6, 3)), np.array([6, 1, 4])
    batch_major = run()(params, xs, None, lengths)
    time_major = run(time_major=True)(params, xs.swapaxes(0, 1), None, lengths)
    np.testing.assert_array_equal(batch_major[1], np.swapaxes(time_major[1], 0, 1))
    jax.tree.map(np.testing.assert_array_equal, batch_major[0], time_major[0])


@pytest.mark.slow
def test_check_grads_float64(x64):
    params = pair(equal_sizes=True, dtype=np.float64)
    xs = jnp.asarray(inputs((3, 4, 3), dtype=np.float64))
    lengths = np.array([4, 0, 2])

    def loss(params, xs):
        final, ys = jlstm.bidirectional(params, xs, lengths=lengths, merge_mode="mul")
        return jnp.sum(ys**2) + jnp.sum(jnp.sin(final.backward.c)) + jnp.sum(final.forward.h)

    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",))


@pytest.mark.slow
def test_vmap_over_batch_equals_batched_call():
    params, xs, lengths = pair(), jnp.asarray(inputs((4, 6, 3))), jnp.array([6, 0, 3, 1])
    batched = run()(params, xs, None, lengths)
    mapped = jax.jit(jax.vmap(lambda x, n: jlstm.bidirectional(params, x, lengths=n)))(xs, lengths)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), batched, mapped)


def test_accepts_states_per_direction():
    params = pair()
    state = Bidirectional(None, jlstm.zero_state(params.backward, (2,)))
    xs = jnp.zeros((2, 5, 3))
    final, ys = jax.eval_shape(lambda: jlstm.bidirectional(params, xs, state, merge_mode=None))
    assert ys.forward.shape == (2, 5, 2) and ys.backward.shape == (2, 5, 3)
    assert final.forward.c.shape == (2, 4)


def test_both_directions_advance_in_one_loop():
    # The forward pass is one loop. With a derivative: one loop per direction saves the
    # factors of the tangent, whose loop (and its transpose, the backward loop) is shared.
    params = Bidirectional(make(), make(seed=1))
    xs, lengths = jnp.asarray(inputs((2, 5, 3))), np.array([5, 2])

    def run(params, xs):
        return jlstm.bidirectional(params, xs, lengths=lengths)[1]

    assert len(loop_bodies(jax.make_jaxpr(run)(params, xs))) == 1
    grad = jax.grad(lambda p, x: jnp.sum(run(p, x)), argnums=(0, 1))
    assert len(loop_bodies(jax.make_jaxpr(grad)(params, xs))) == 3
    unidirectional = jax.grad(lambda x: jnp.sum(jlstm.lstm(params.forward, x)[1]))
    assert len(loop_bodies(jax.make_jaxpr(unidirectional)(xs))) == 2


def test_one_loop_is_two_lstm_calls():
    params = Bidirectional(random_layer(0, 3, 4, 2), random_layer(1, 3, 5))
    xs, lengths = jnp.asarray(inputs((3, 6, 3))), np.array([6, 2, 0])

    def together(params, xs):
        return jlstm.bidirectional(params, xs, lengths=lengths, merge_mode=None)

    def apart(params, xs):
        forward = jlstm.lstm(params.forward, xs, lengths=lengths)
        backward = jlstm.lstm(params.backward, xs, lengths=lengths, reverse=True)
        return Bidirectional(forward[0], backward[0]), Bidirectional(forward[1], backward[1])

    def loss(run, params, xs):
        final, ys = run(params, xs)
        return jnp.sum(jnp.sin(jnp.concatenate(ys, -1))) + sum(jnp.sum(s.c) for s in final)

    grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2)), static_argnums=0)
    jax.tree.map(
        np.testing.assert_array_equal, jax.jit(together)(params, xs), jax.jit(apart)(params, xs)
    )
    # The backward direction runs flipped in the shared loop, and `lstm(reverse=True)` runs
    # its loop backwards: the weight gradients sum the same terms in another order.
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
        grad(together, params, xs),
        grad(apart, params, xs),
    )
