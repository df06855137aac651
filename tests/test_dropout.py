"""Variational dropout and zoneout: the oracle with the masks read back from a run, mask reuse
across time, different masks per key, and expectations.

That evaluation mode (or a zero rate) is the plain program: tests/test_plain_program.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.assertions import check
from support.factories import GAPPED, VARIANTS, inputs, make, make_variant
from support.layers import jit_lstm

import jlstm

F32 = 2e-6
KEY = jax.random.key(42)
RATES = ("input_dropout", "recurrent_dropout", "zoneout_h", "zoneout_c")


def dropped_columns(jacobian):
    """Per sequence, the columns of a weight that no output depends on: `(batch, columns)`."""
    return np.all(np.asarray(jacobian) == 0, axis=-2)


def run_and_masks(params, xs, rates, **options):
    """A noisy `jlstm.lstm` run, `(final, ys)`, and the masks it drew, read back from outside.

    A feature dropped from a sequence's input (or recurrent) mask leaves that sequence's
    outputs independent of its column of `W_ih` (or `W_hh`): the per-sequence Jacobian is 0
    there; kept units are scaled by `1 / (1 - rate)`. Zoneout keeps a unit's previous value,
    exactly, at the steps it zones out: the gate trace (same key, same masks) shows where.
    """
    noise = {"key": KEY, **dict(zip(RATES, rates, strict=True)), **options}

    def per_sequence(weight_ih, weight_hh):
        ys = jlstm.lstm(params._replace(weight_ih=weight_ih, weight_hh=weight_hh), xs, **noise)[1]
        return jnp.sum(jnp.sin(ys), axis=(-2, -1))

    @jax.jit
    def everything():
        jacobians = jax.jacrev(per_sequence, (0, 1))(params.weight_ih, params.weight_hh)
        _, trace = jlstm.lstm(params, xs, return_gates=True, **noise)
        return jlstm.lstm(params, xs, **noise), jacobians, trace

    result, jacobians, trace = everything()
    masks = [
        ~dropped_columns(jacobian) / (1 - rate) if rate else None
        for jacobian, rate in zip(jacobians, rates[:2], strict=True)
    ]
    read = np.ones(xs.shape[:2], bool) if "mask" not in options else options["mask"].copy()
    if "lengths" in options:
        read &= np.arange(xs.shape[1]) < options["lengths"][:, None]
    order = range(xs.shape[1])[::-1] if options.get("reverse") else range(xs.shape[1])
    zoneout = []
    sizes = {"h": params.weight_hh.shape[1], "c": params.weight_hh.shape[0] // 4}
    for (name, size), rate in zip(sizes.items(), rates[2:], strict=True):
        values, keep = np.asarray(getattr(trace, name)), np.zeros((*xs.shape[:2], size), bool)
        for b in range(xs.shape[0]) if rate else ():
            previous = np.zeros(size)  # the zero initial state
            for t in (t for t in order if read[b, t]):
                keep[b, t], previous = values[b, t] == previous, values[b, t]
        zoneout.append(keep)
    return result, (*masks, tuple(zoneout))


@pytest.mark.slow
@pytest.mark.parametrize(
    "rates, options",
    [
        ((0.3, 0.4, 0.0, 0.0), {}),
        ((0.0, 0.0, 0.2, 0.5), {"reverse": True}),
        ((0.25, 0.5, 0.3, 0.1), {"lengths": np.array([6, 2, 0, 4]), "mask": GAPPED[:, :6]}),
    ],
    ids=["dropout", "zoneout", "all"],
)
def test_matches_oracle_with_the_drawn_masks(rates, options):
    params = make(input_size=3, hidden_size=4, proj_size=2)
    xs = inputs((4, 6, 3))
    (final, ys), (input_mask, recurrent_mask, zoneout_masks) = run_and_masks(
        params, xs, rates, **options
    )
    h_ref, c_ref, ys_ref, _ = reference.general_sequence(
        params,
        xs,
        input_mask=input_mask,
        recurrent_mask=recurrent_mask,
        zoneout_masks=zoneout_masks,
        **options,
    )
    for name, actual, desired in [("ys", ys, ys_ref), ("h", final.h, h_ref), ("c", final.c, c_ref)]:
        check(name, actual, desired, F32)


@pytest.mark.slow
def test_zoneout_without_key_is_its_expectation():
    params = make_variant(input_size=3, hidden_size=4, **VARIANTS["peephole"])
    xs = inputs((3, 6, 3))
    final, ys = jit_lstm(params, xs, zoneout_h=0.3, zoneout_c=0.6, reverse=True, deterministic=True)
    _, c_ref, ys_ref, _ = reference.general_sequence(params, xs, zoneout=(0.3, 0.6), reverse=True)
    np.testing.assert_allclose(ys, ys_ref, atol=F32)
    np.testing.assert_allclose(final.c, c_ref, atol=F32)


def _dropped_units(keys, kind):
    """Which units one variational mask drops, seen from outside through the gradient.

    A dropped input feature gets no gradient at any step; a dropped recurrent unit gives
    its column of W_hh no gradient. Returns per key `(time, units)` booleans for inputs,
    `(units,)` booleans for recurrent units.
    """
    params = make(input_size=16, hidden_size=16)
    xs = jnp.asarray(inputs((6, 16)))  # one sequence: one mask
    option = {"input_dropout": 0.5} if kind == "input" else {"recurrent_dropout": 0.5}

    def loss(params, xs, key):
        return jnp.sum(jnp.sin(jit_lstm(params, xs, key=key, **option)[1]))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    dropped = []
    for key in keys:
        d_params, d_xs = grad(params, xs, key)
        if kind == "input":
            dropped.append(np.asarray(d_xs) == 0)
        else:
            dropped.append(np.all(np.asarray(d_params.weight_hh) == 0, axis=0))
    return dropped


@pytest.mark.slow
def test_variational_masks_are_reused_across_time_and_differ_across_keys():
    keys = jax.random.split(jax.random.key(0), 2)
    inputs_dropped = _dropped_units(keys, "input")
    for dropped in inputs_dropped:
        assert np.all(dropped == dropped[0]), "the input mask changed between steps"
        assert 0 < dropped[0].sum() < 16
    assert np.any(inputs_dropped[0][0] != inputs_dropped[1][0])
    recurrent_dropped = _dropped_units(keys, "recurrent")
    for dropped in recurrent_dropped:
        assert 0 < dropped.sum() < 16  # a per-step mask would leave no column untouched
    assert np.any(recurrent_dropped[0] != recurrent_dropped[1])


@pytest.mark.slow
def test_one_mask_per_sequence():
    params = make()
    xs = jnp.asarray(np.repeat(inputs((1, 5, 3)), 2, axis=0))  # two identical sequences
    _, ys = jit_lstm(params, xs, key=KEY, input_dropout=0.5, recurrent_dropout=0.5)
    assert not np.allclose(ys[0], ys[1])
    # vmap over keys: one key per sequence.
    keys = jax.random.split(KEY, 2)
    run = jax.jit(jax.vmap(lambda x, k: jlstm.lstm(params, x, key=k, input_dropout=0.5)[1]))
    mapped = run(xs, keys)
    single = jit_lstm(params, xs[1], key=keys[1], input_dropout=0.5)[1]
    np.testing.assert_allclose(mapped[1], single, atol=1e-6)


@pytest.mark.slow
def test_input_dropout_keeps_each_feature_with_one_minus_the_rate_scaled_up():
    # One step of many one-step sequences: a dropped feature gets no gradient, and the run
    # is the deterministic one on the inputs times the mask 0 or 1 / (1 - rate).
    n, rate = 4000, 0.3
    params = make(input_size=16, hidden_size=4)
    xs = jnp.asarray(inputs((n, 1, 16)))

    def loss(xs):
        return jnp.sum(jnp.sin(jit_lstm(params, xs, key=KEY, input_dropout=rate)[1]))

    kept = np.asarray(jax.jit(jax.grad(loss))(xs))[:, 0] != 0
    sigma = np.sqrt(rate * (1 - rate) / kept.size)
    assert abs(1 - kept.mean() - rate) < 5 * sigma
    _, noisy = jax.jit(lambda: jlstm.lstm(params, xs, key=KEY, input_dropout=rate))()
    scaled = xs * jnp.asarray(kept / (1 - rate), jnp.float32)[:, None, :]
    _, expected = jax.jit(jlstm.lstm)(params, scaled)
    np.testing.assert_allclose(noisy, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_zoneout_masks_of_a_long_sequence_are_independent_across_steps():
    # 16 x 64 units over 1000 steps: the masks are drawn a block of steps at a time. A unit
    # zoned out keeps its h exactly; else the new h differs (the inputs differ every step).
    params = make(input_size=3, hidden_size=64)
    xs = jnp.asarray(inputs((16, 1000, 3)))
    _, ys = jit_lstm(params, xs, key=KEY, zoneout_h=0.3)
    keep = np.asarray(ys[:, 1:] == ys[:, :-1])
    assert abs(keep.mean() - 0.3) < 0.005
    for lag in range(1, 120):  # independent steps agree with probability 0.3^2 + 0.7^2
        agree = np.mean(keep[:, lag:] == keep[:, :-lag])
        assert abs(agree - 0.58) < 0.01, (lag, agree)


@pytest.mark.slow
def test_zoneout_preserves_the_expected_value():
    # One step from a non-zero state: the mean over many draws is the evaluation value.
    params = make(input_size=3, hidden_size=4)
    batch = 20_000
    x = jnp.asarray(np.repeat(inputs((1, 1, 3)), batch, axis=0))
    state = jlstm.LSTMState(*(jnp.asarray(np.repeat(inputs((1, 4), s), batch, 0)) for s in (2, 3)))
    rates = {"zoneout_h": 0.3, "zoneout_c": 0.6}
    train, _ = jit_lstm(params, x, state, key=KEY, **rates)
    evaluation, _ = jit_lstm(params, x, state, deterministic=True, **rates)
    for name in ("h", "c"):
        kept = np.mean(np.asarray(getattr(train, name)) == np.asarray(getattr(state, name)))
        assert abs(kept - rates[f"zoneout_{name}"]) < 0.01, (name, kept)
        spread = np.abs(np.asarray(getattr(state, name)[0] - getattr(evaluation, name)[0]))
        mean = np.asarray(getattr(train, name)).mean(axis=0)
        # 5 standard errors of a Bernoulli mean, per unit
        bound = 5 * spread * np.sqrt(0.25 / batch) / min(rates[f"zoneout_{name}"], 0.5) + 1e-6
        assert np.all(np.abs(mean - np.asarray(getattr(evaluation, name)[0])) <= bound), name


@pytest.mark.slow
def test_jit_with_key_argument():
    params = make()
    xs = jnp.asarray(inputs((2, 5, 3)))
    fn = jax.jit(lambda p, x, k: jlstm.lstm(p, x, key=k, recurrent_dropout=0.2, zoneout_c=0.1))
    eager = jlstm.lstm(params, xs, key=KEY, recurrent_dropout=0.2, zoneout_c=0.1)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), fn(params, xs, KEY), eager
    )
    raw = jlstm.lstm(params, xs, key=jax.random.PRNGKey(0), input_dropout=0.2)  # legacy key
    assert raw[1].shape == (2, 5, 5)


@pytest.mark.slow
def test_check_grads_float64(x64):
    params = make_variant(hidden_size=3, proj_size=2, dtype=jnp.float64, **VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 3, 3), dtype=np.float64))
    rates = {"input_dropout": 0.2, "recurrent_dropout": 0.3, "zoneout_h": 0.2, "zoneout_c": 0.3}

    def loss(params, xs):
        state, ys = jit_lstm(params, xs, key=KEY, **rates)
        return jnp.sum(ys**2) + jnp.sum(jnp.sin(state.c))

    # Layer norm curves sharply where dropout leaves few units: a smaller finite-difference step.
    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",), eps=1e-6)
