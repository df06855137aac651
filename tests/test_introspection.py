"""`return_gates=True`: gate activations and cell states against the NumPy oracle."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.factories import GAPPED, RESETS, VARIANTS, inputs, make, make_variant
from support.layers import jit_cell, jit_lstm

import jlstm

F32 = 2e-6

CASES = {
    "plain": ({}, {}),
    "plain-lengths-reverse": ({}, {"lengths": np.array([6, 0, 3, 1]), "reverse": True}),
    "all-mask-lengths": (
        VARIANTS["all"],
        {"mask": GAPPED[:, :6], "lengths": np.array([6, 5, 4, 2])},
    ),
    "cifg-mask-resets-reverse": (
        VARIANTS["cifg"],
        {"mask": GAPPED[:, :6], "resets": RESETS[:, :6], "reverse": True},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_trace_matches_oracle(case):
    variants, options = CASES[case]
    params = make_variant(input_size=3, hidden_size=4, proj_size=2, **variants)
    xs, h0, c0 = inputs((4, 6, 3)), inputs((4, 2), 2), inputs((4, 4), 3)
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    final, trace = jit_lstm(params, xs, state, return_gates=True, **options)
    assert isinstance(trace, jlstm.GateTrace)
    h_ref, c_ref, _, trace_ref = reference.general_sequence(params, xs, h0, c0, **options)
    for name in jlstm.GateTrace._fields:
        actual = np.asarray(getattr(trace, name))
        err = float(np.max(np.abs(actual - trace_ref[name])))
        print(f"{case} {name}: max abs err {err:.2e}")
        assert err <= F32, name
    np.testing.assert_allclose(final.h, h_ref, atol=F32)
    np.testing.assert_allclose(final.c, c_ref, atol=F32)
    if "lengths" in options:
        padded = np.arange(6)[None, :] >= options["lengths"][:, None]
        for name in jlstm.GateTrace._fields:
            assert np.all(np.asarray(getattr(trace, name))[padded] == 0), name
    if "mask" in options:  # skipped steps: no gate activity
        skipped = ~options["mask"]
        for name in "ifgo":
            assert np.all(np.asarray(getattr(trace, name))[skipped] == 0), name


@pytest.mark.slow
def test_trace_agrees_with_outputs_and_state():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((3, 5, 3)))
    lengths = np.array([5, 2, 4])
    final, ys = jit_lstm(params, xs, lengths=lengths)
    final_g, trace = jit_lstm(params, xs, lengths=lengths, return_gates=True)
    np.testing.assert_allclose(trace.h, ys, rtol=1e-6, atol=1e-7)
    last = np.asarray(trace.c)[np.arange(3), lengths - 1]
    np.testing.assert_array_equal(last, final_g.c)
    np.testing.assert_allclose(final_g.c, final.c, rtol=1e-6, atol=1e-7)
    # c' = f * c + i * g, step by step
    c_prev = np.concatenate([np.zeros((3, 1, 5), np.float32), np.asarray(trace.c)[:, :-1]], 1)
    recomputed = np.asarray(trace.f) * c_prev + np.asarray(trace.i) * np.asarray(trace.g)
    valid = np.arange(5)[None, :] < lengths[:, None]
    np.testing.assert_allclose(recomputed[valid], np.asarray(trace.c)[valid], atol=1e-6)
    for name in "ifo":
        gate = np.asarray(getattr(trace, name))[valid]
        assert np.all((gate > 0) & (gate < 1)), name


@pytest.mark.slow
def test_layouts_and_dtypes():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((3, 5, 3)))
    _, batch_major = jit_lstm(params, xs, return_gates=True)
    _, time_major = jit_lstm(params, xs.swapaxes(0, 1), time_major=True, return_gates=True)
    jax.tree.map(
        lambda a, b: np.testing.assert_array_equal(a, b.swapaxes(0, 1)), batch_major, time_major
    )
    assert batch_major.h.shape == (3, 5, 2) and batch_major.f.shape == (3, 5, 5)
    _, low = jit_lstm(params, xs, return_gates=True, dtype=jnp.bfloat16)
    assert low.h.dtype == jnp.bfloat16 and low.c.dtype == low.f.dtype == jnp.float32
    _, single = jit_lstm(params, xs[0], return_gates=True)  # no batch dims
    np.testing.assert_allclose(single.o, batch_major.o[0], atol=1e-6)


@pytest.mark.parametrize("variant", ["plain", pytest.param("all", marks=pytest.mark.slow)])
def test_cell_gates_match_oracle(variant):
    params = make_variant(proj_size=2, **VARIANTS.get(variant, {}))
    h, c, x = inputs((5, 2), 2), inputs((5, 4), 3), inputs((5, 3), 4)
    state, trace = jit_cell(params, jlstm.LSTMState(h, c), x, return_gates=True)
    h_ref, c_ref, gates = reference.variant_cell(params, *map(np.float64, (h, c, x)))
    for name, value in gates.items():
        np.testing.assert_allclose(getattr(trace, name), value, atol=F32)
    np.testing.assert_allclose(trace.h, h_ref, atol=F32)
    np.testing.assert_allclose(trace.c, c_ref, atol=F32)
    np.testing.assert_array_equal(trace.c, state.c)


@pytest.mark.slow
def test_jit_and_vmap():
    params = make()
    xs = jnp.asarray(inputs((3, 5, 3)))
    run = jax.jit(functools.partial(jlstm.lstm, return_gates=True))
    eager = jit_lstm(params, xs, return_gates=True)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), run(params, xs), eager)
    mapped = jax.vmap(lambda x: jlstm.lstm(params, x, return_gates=True)[1])(xs)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), mapped, eager[1])


@pytest.mark.slow
def test_check_grads_float64(x64):
    params = make_variant(hidden_size=3, dtype=jnp.float64, peephole=True)
    xs = jnp.asarray(inputs((2, 4, 3), dtype=np.float64))

    def loss(params, xs):
        _, trace = jit_lstm(params, xs, mask=GAPPED[:2, :4], return_gates=True)
        return jnp.sum(trace.f * trace.g) + jnp.sum(jnp.sin(trace.c)) + jnp.sum(trace.o)

    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",))
