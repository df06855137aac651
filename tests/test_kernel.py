"""The LSTM kernel (custom derivative, every option) against autodiff of a plain scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support.factories import inputs, make

import jlstm

LENGTHS = np.array([6, 3, 0, 1])
MASK = np.random.default_rng(7).random((4, 6)) < 0.7
RESETS = np.random.default_rng(8).random((4, 6)) < 0.3
# Options whose rules jlstm.scan applies to any cell, so jlstm.scan(lstm_cell) is a reference.
SEQUENCE_OPTIONS = {
    "plain": {},
    "lengths": {"lengths": LENGTHS},
    "mask": {"mask": MASK},
    "resets": {"resets": RESETS},
    "reverse": {"reverse": True},
    "reverse+lengths": {"reverse": True, "lengths": LENGTHS},
    "all": {"lengths": LENGTHS, "mask": MASK, "resets": RESETS, "reverse": True},
}
NOISE_OPTIONS = {
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "input_dropout": {"input_dropout": 0.3},
    "zoneout": {"zoneout_h": 0.3, "zoneout_c": 0.2},
    "zoneout+lengths": {"zoneout_h": 0.3, "lengths": LENGTHS, "reverse": True},
}


def loss(run, params, state, xs, **kwargs):
    final, ys = run(params, xs, state, **kwargs)
    return jnp.sum(jnp.sin(ys)) + jnp.sum(final.h**2) + jnp.sum(jnp.cos(final.c))


def lstm(params, xs, state, **kwargs):
    return jlstm.lstm(params, xs, state, **kwargs)


def scanned(params, xs, state, **kwargs):
    return jlstm.scan(jlstm.lstm_cell, params, xs, state, **kwargs)


def traced(params, xs, state, **kwargs):
    # return_gates=True steps the same noisy cell with lax.scan (autodiff), one key.
    final, gates = jlstm.lstm(params, xs, state, return_gates=True, **kwargs)
    return final, gates.h


def case(proj_size=None, bias=True, batch_shape=(4,), dtype=np.float32):
    params = make(input_size=3, hidden_size=5, proj_size=proj_size, bias=bias)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    out = params.weight_hh.shape[1]
    h = jnp.asarray(inputs((*batch_shape, out), 2, dtype))
    state = jlstm.LSTMState(h, jnp.asarray(inputs((*batch_shape, 5), 3, dtype)))
    return params, state, jnp.asarray(inputs((*batch_shape, 6, 3), 1, dtype))


def assert_relative(actual, desired, tol):
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
        error = float(jnp.max(jnp.abs(a - d))) / max(float(jnp.max(jnp.abs(d))), 1e-30)
        assert error <= tol, error


# "plain", "lengths" and "reverse" on their own are parts of "reverse+lengths" and "all".
@pytest.mark.slow
@pytest.mark.parametrize(
    "name, proj_size",
    [
        ("all", None),
        ("all", 3),
        ("mask", None),
        ("resets", None),
        ("reverse+lengths", None),
        ("plain", None),
    ],
)
def test_gradients_equal_scan_autodiff(name, proj_size):
    params, state, xs = case(proj_size)
    options = SEQUENCE_OPTIONS[name]
    grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2, 3)), static_argnums=0)
    if "mask" in options:
        # Before any step is read (and after a reset) a masked step outputs the initial h
        # in jlstm.lstm but zeros in jlstm.scan: equal values for h0 = 0, not equal
        # gradients with respect to h0.
        state = state._replace(h=jnp.zeros_like(state.h))
    fast = grad(lambda *a: lstm(*a, **options), params, state, xs)
    reference = grad(lambda *a: scanned(*a, **options), params, state, xs)
    if "mask" in options:
        fast, reference = [(value, (p, s.c, x)) for value, (p, s, x) in (fast, reference)]
    assert_relative(fast, reference, 1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("bias, batch_shape", [(False, ()), (True, (2, 3))])
def test_gradients_for_any_batch_shape(bias, batch_shape):
    params, state, xs = case(2, bias, batch_shape)
    grad = jax.jit(jax.grad(loss, argnums=(1, 2, 3)), static_argnums=0)
    assert_relative(grad(lstm, params, state, xs), grad(scanned, params, state, xs), 1e-6)


@pytest.mark.slow
# Input dropout multiplies xs before the loop; zoneout is a part of "zoneout+lengths".
@pytest.mark.parametrize("name", ["recurrent_dropout", "zoneout+lengths"])
def test_noise_gradients_equal_the_scan_path(name):
    params, state, xs = case(3)
    options = dict(NOISE_OPTIONS[name], key=jax.random.key(4))
    grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2, 3)), static_argnums=0)
    fast = grad(lambda *a: lstm(*a, **options), params, state, xs)
    reference = grad(lambda *a: traced(*a, **options), params, state, xs)
    assert_relative(fast, reference, 1e-6)


@pytest.mark.parametrize("time", [6, 5])  # chunks of 3 steps: none left over, and 2 left over
def test_remat_equals_the_kernel(time):
    params, state, xs = case(3)
    lengths, mask, resets = np.minimum(LENGTHS, time), MASK[:, :time], RESETS[:, :time]
    options = {"lengths": lengths, "mask": mask, "resets": resets, "reverse": True}
    options |= {"recurrent_dropout": 0.3, "zoneout_c": 0.2, "key": jax.random.key(4)}
    grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2, 3)), static_argnums=0)
    fast = grad(lambda *a: lstm(*a, **options), params, state, xs[:, :time])
    remat = grad(lambda *a: lstm(*a, remat=True, **options), params, state, xs[:, :time])
    assert_relative(remat, fast, 1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["all", "mask", "resets", "recurrent_dropout", "zoneout+lengths"])
def test_forward_is_bitwise_the_scan_path(name):
    params, state, xs = case(3)
    options = dict({**SEQUENCE_OPTIONS, **NOISE_OPTIONS}[name], key=jax.random.key(4))
    fast = jax.jit(lambda *a: lstm(*a, **options))(params, xs, state)
    reference = jax.jit(lambda *a: traced(*a, **options))(params, xs, state)
    jax.tree.map(np.testing.assert_array_equal, fast, reference)


@pytest.mark.slow
def test_check_grads_float64_both_modes(x64):
    # Reverse mode checks the VJP against the JVP: the two are transposes, with every option.
    params, state, xs = case(2, dtype=np.float64)
    options = {"lengths": LENGTHS, "mask": MASK, "resets": RESETS, "reverse": True}
    check_grads(
        jax.jit(lambda *a: loss(lstm, *a, **options)),
        (params, state, xs),
        order=2,
        modes=("fwd", "rev"),
    )


@pytest.mark.slow
def test_empty_sequences():
    params = make()
    grads = jax.grad(lambda x: jnp.sum(jlstm.lstm(params, x)[1]))(jnp.zeros((2, 0, 3)))
    assert grads.shape == (2, 0, 3)
    grads = jax.grad(lambda x: jnp.sum(jlstm.lstm(params, x)[1]))(jnp.zeros((0, 4, 3)))
    assert grads.shape == (0, 4, 3)


@pytest.mark.slow
@pytest.mark.parametrize("batch, time, hidden", [(16, 200, 32), (1, 300, 16)])
def test_backward_memory_is_two_gate_buffers(batch, time, hidden):
    # Saved: the (time, batch, 4H) gate factors p_t, plus q_t, f_t and the outputs; the
    # backward loop writes dz_t into a second buffer of that size. Autodiff of the scan
    # keeps more per step; this catches a third copy.
    params = jlstm.init_lstm(jax.random.key(0), 8, hidden)
    xs = jax.ShapeDtypeStruct((batch, time, 8), jnp.float32)

    def loss(p, x):
        return jnp.sum(jlstm.lstm(p, x)[1])

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs).compile()
    gate_buffer = time * batch * 4 * hidden * 4
    assert compiled.memory_analysis().temp_size_in_bytes < 3.5 * gate_buffer


def long_case(proj_size):
    # 64 sequences of 80 steps with 4 * 128 gates: over the size of a tangent loop that
    # runs whole, so it runs in chunks (8 steps each: 512 rows of its hoisted GEMMs).
    rng = np.random.default_rng(11)
    params = make(input_size=3, hidden_size=128, proj_size=proj_size)
    out = params.weight_hh.shape[1]
    state = jlstm.LSTMState(
        jnp.zeros((64, out)), jnp.asarray(inputs((64, 128), 3))
    )  # h0 = 0: see the mask note in test_gradients_equal_scan_autodiff
    options = {
        "lengths": rng.integers(0, 81, 64),
        "mask": rng.random((64, 80)) < 0.8,
        "resets": rng.random((64, 80)) < 0.05,
        "reverse": True,
    }
    return params, state, jnp.asarray(inputs((64, 80, 3), 1)), options


@pytest.mark.slow
@pytest.mark.parametrize("proj_size", [None, 32])
def test_long_loops_in_chunks_equal_scan_autodiff(proj_size):
    params, state, xs, options = long_case(proj_size)
    grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2, 3)), static_argnums=0)
    fast = grad(lambda *a: lstm(*a, **options), params, state, xs)
    reference = grad(lambda *a: scanned(*a, **options), params, state, xs)
    strip = [(value, (p, s.c, x)) for value, (p, s, x) in (fast, reference)]
    assert_relative(*strip, 1e-6)


@pytest.mark.slow
def test_long_loops_in_chunks_have_the_scan_jvp():
    params, state, xs, options = long_case(None)
    options |= {"recurrent_dropout": 0.3, "zoneout_c": 0.2, "key": jax.random.key(4)}
    tangents = jax.tree.map(lambda a: jnp.asarray(inputs(a.shape, 5)), (params, xs, state))

    def jvp(run):
        return jax.jit(lambda *a: jax.jvp(lambda *p: run(*p, **options), a, tangents))(
            params, xs, state
        )

    assert_relative(jvp(lstm), jvp(traced), 1e-6)


@pytest.mark.slow
def test_long_loops_keep_one_gate_buffer():
    # B=16, T=1000, H=64: the backward loop writes dz_t one chunk at a time, so the temp
    # memory is the saved factors (one (time, batch, 4H) buffer, q, f, the outputs) and little
    # more. A second full buffer for dz_t would make it more than 3 gate buffers.
    params = jlstm.init_lstm(jax.random.key(0), 32, 64)
    xs = jax.ShapeDtypeStruct((16, 1000, 32), jnp.float32)

    def loss(p, x):
        return jnp.sum(jlstm.lstm(p, x)[1])

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs).compile()
    gate_buffer = 1000 * 16 * 4 * 64 * 4
    assert compiled.memory_analysis().temp_size_in_bytes < 2.5 * gate_buffer


@pytest.mark.slow
def test_reversed_loops_keep_no_flipped_copies():
    # A reversed layer runs its loops backwards over the steps as they lie: its derivative
    # keeps no flipped copy of the inputs, the outputs or their cotangents (8 MiB here).
    params = jlstm.init_lstm(jax.random.key(0), 32, 64)
    xs = jax.ShapeDtypeStruct((16, 1000, 32), jnp.float32)
    lengths = jax.ShapeDtypeStruct((16,), jnp.int32)

    def temp(reverse):
        def loss(p, x, n):
            return jnp.sum(jlstm.lstm(p, x, lengths=n, reverse=reverse)[1])

        compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs, lengths).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    assert temp(True) <= 1.02 * temp(False)


def wide_bidirectional_case():
    # 64 sequences of 40 steps, 4 * 128 gates per direction: one direction's tangent loop
    # would run whole, the two directions' loop together runs in chunks (8 steps each).
    params = jlstm.Bidirectional(
        make(input_size=3, hidden_size=128), make(input_size=3, hidden_size=128, seed=1)
    )
    lengths = np.random.default_rng(12).integers(0, 41, 64)
    return params, jnp.asarray(inputs((64, 40, 3), 1)), lengths


@pytest.mark.slow
def test_bidirectional_loops_in_chunks_equal_scan_autodiff():
    params, xs, lengths = wide_bidirectional_case()

    def together(params, xs):
        return jlstm.bidirectional(params, xs, lengths=lengths, merge_mode=None)

    def scans(params, xs):
        state = jlstm.zero_state(params.forward, (64,))
        forward = scanned(params.forward, xs, state, lengths=lengths)
        backward = scanned(params.backward, xs, state, lengths=lengths, reverse=True)
        return jlstm.Bidirectional(forward[0], backward[0]), jlstm.Bidirectional(
            *forward[1:], *backward[1:]
        )

    def loss(run, params, xs):
        final, ys = run(params, xs)
        return jnp.sum(jnp.sin(jnp.concatenate(ys, -1))) + sum(jnp.sum(s.c**2) for s in final)

    grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2)), static_argnums=0)
    assert_relative(grad(together, params, xs), grad(scans, params, xs), 1e-6)


@pytest.mark.slow
def test_bidirectional_loops_keep_one_chunk_of_gates():
    # The saved factors of both directions are 3.5 gate buffers of one. Run whole, the
    # tangent loop adds the gate tangents of both directions (6.4 buffers in all).
    params, xs, lengths = wide_bidirectional_case()

    def loss(p, x):
        return jnp.sum(jlstm.bidirectional(p, x, lengths=lengths)[1])

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs).compile()
    gate_buffer = 40 * 64 * 4 * 128 * 4
    assert compiled.memory_analysis().temp_size_in_bytes < 5.75 * gate_buffer


@pytest.mark.parametrize("dims", ["b, t", "b"])
def test_remat_exports_with_symbolic_dims(dims):
    # A symbolic time has no square root to chunk by: remat then checkpoints every step.
    params = make()

    def grad(params, xs, lengths):
        return jax.value_and_grad(
            lambda p: jnp.sum(jlstm.lstm(p, xs, lengths=lengths, remat=True)[1] ** 2)
        )(params)

    symbolic = jax.export.symbolic_shape(dims)
    shape = (*symbolic, 3) if len(symbolic) == 2 else (*symbolic, 9, 3)
    exported = jax.export.export(jax.jit(grad))(
        params,
        jax.ShapeDtypeStruct(shape, jnp.float32),
        jax.ShapeDtypeStruct(shape[:1], jnp.int32),
    )
    for time in (9, 1) if len(symbolic) == 2 else (9,):
        xs, lengths = jnp.asarray(inputs((3, time, 3))), jnp.array([time, time // 2, 0])
        assert_relative(
            exported.call(params, xs, lengths), jax.jit(grad)(params, xs, lengths), 1e-6
        )


@pytest.mark.slow
def test_remat_keeps_a_long_sequence_small():
    # B=4, T=100,000, I=16, H=32: XLA's temp memory for forward+backward, from the compiler.
    params = jlstm.init_lstm(jax.random.key(0), 16, 32)
    xs = jax.ShapeDtypeStruct((4, 100_000, 16), jnp.float32)

    def loss(p, x):
        return jnp.sum(jlstm.lstm(p, x, remat=True)[1])

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 200e6


@pytest.mark.slow
def test_vmap_over_keys_equals_separate_runs():
    params, state, xs = case(3)
    keys = jax.random.split(jax.random.key(9), 3)

    def run(key):
        options = {"recurrent_dropout": 0.3, "zoneout_c": 0.2, "lengths": LENGTHS}
        return jax.grad(loss, argnums=(1, 3))(lstm, params, state, xs, key=key, **options)

    mapped = jax.jit(jax.vmap(run))(keys)
    for k in range(3):
        single = jax.jit(run)(keys[k])
        jax.tree.map(
            lambda a, b, k=k: np.testing.assert_allclose(a[k], b, atol=1e-6), mapped, single
        )
