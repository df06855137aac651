"""Variational dropout and zoneout: the oracle with the same masks, mask reuse across time,
different masks per key, expectations, and no noise without a key.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from test_masks import GAPPED
from test_sequence import inputs, make
from test_variants import VARIANTS, make_variant

import jlstm
from jlstm import LSTMTypeError, LSTMValueError
from jlstm._dropout import Rates, draw, variational_mask

F32 = 2e-6
KEY = jax.random.key(42)


def drawn_masks(key, rates, xs, params):
    """The masks `jlstm.lstm` draws from `key`, batch-major for the oracle."""
    input_size, out_size = params.weight_ih.shape[1], params.weight_hh.shape[1]
    hidden_size = params.weight_hh.shape[0] // 4
    sizes = (input_size, hidden_size, out_size)
    noise = draw(key, rates, xs.shape[1], xs.shape[:1], sizes, jnp.float32)
    if noise.zoneout_h is None and noise.zoneout_c is None:
        return noise.input_mask, noise.recurrent_mask, None

    def batch_major(mask, size):
        if mask is None:  # that rate is 0: never keep the previous value
            return np.zeros((*xs.shape[:2], size), bool)
        return np.moveaxis(np.asarray(mask), 0, 1)

    zoneout = batch_major(noise.zoneout_h, out_size), batch_major(noise.zoneout_c, hidden_size)
    return noise.input_mask, noise.recurrent_mask, zoneout


@pytest.mark.parametrize(
    "rates, options",
    [
        (Rates(0.3, 0.4, 0.0, 0.0), {}),
        (Rates(0.0, 0.0, 0.2, 0.5), {"reverse": True}),
        (Rates(0.25, 0.5, 0.3, 0.1), {"lengths": np.array([6, 2, 0, 4]), "mask": GAPPED[:, :6]}),
    ],
    ids=["dropout", "zoneout", "all"],
)
def test_matches_oracle_with_the_drawn_masks(rates, options):
    params = make(input_size=3, hidden_size=4, proj_size=2)
    xs = inputs((4, 6, 3))
    input_mask, recurrent_mask, zoneout_masks = drawn_masks(KEY, rates, xs, params)
    final, ys = jlstm.lstm(
        params,
        xs,
        key=KEY,
        input_dropout=rates.input,
        recurrent_dropout=rates.recurrent,
        zoneout_h=rates.zoneout_h,
        zoneout_c=rates.zoneout_c,
        **options,
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
        err = float(np.max(np.abs(np.asarray(actual) - desired)))
        print(f"{name}: max abs err {err:.2e}")
        assert err <= F32


def test_zoneout_without_key_is_its_expectation():
    params = make_variant(input_size=3, hidden_size=4, **VARIANTS["peephole"])
    xs = inputs((3, 6, 3))
    final, ys = jlstm.lstm(
        params, xs, zoneout_h=0.3, zoneout_c=0.6, reverse=True, deterministic=True
    )
    _, c_ref, ys_ref, _ = reference.general_sequence(params, xs, zoneout=(0.3, 0.6), reverse=True)
    np.testing.assert_allclose(ys, ys_ref, atol=F32)
    np.testing.assert_allclose(final.c, c_ref, atol=F32)


def test_deterministic_or_zero_rate_is_the_plain_run():
    params = make()
    xs = jnp.asarray(inputs((2, 5, 3)))
    plain = jlstm.lstm(params, xs)
    rates = {"input_dropout": 0.5, "recurrent_dropout": 0.5}
    no_key = jlstm.lstm(params, xs, deterministic=True, **rates)
    with pytest.raises(jlstm.LSTMValueError, match="`key` must be a PRNG key"):
        jlstm.lstm(params, xs, **rates)  # never silently without dropout
    zero_rate = jlstm.lstm(params, xs, key=KEY, input_dropout=0.0, zoneout_c=0.0)
    jax.tree.map(np.testing.assert_array_equal, plain, no_key)
    jax.tree.map(np.testing.assert_array_equal, plain, zero_rate)
    again = jlstm.lstm(params, xs, key=KEY, input_dropout=0.5, zoneout_h=0.5)
    other = jlstm.lstm(params, xs, key=KEY, input_dropout=0.5, zoneout_h=0.5)
    jax.tree.map(np.testing.assert_array_equal, again, other)  # same key, same masks


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
        return jnp.sum(jnp.sin(jlstm.lstm(params, xs, key=key, **option)[1]))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    dropped = []
    for key in keys:
        d_params, d_xs = grad(params, xs, key)
        if kind == "input":
            dropped.append(np.asarray(d_xs) == 0)
        else:
            dropped.append(np.all(np.asarray(d_params.weight_hh) == 0, axis=0))
    return dropped


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


def test_one_mask_per_sequence():
    params = make()
    xs = jnp.asarray(np.repeat(inputs((1, 5, 3)), 2, axis=0))  # two identical sequences
    _, ys = jlstm.lstm(params, xs, key=KEY, input_dropout=0.5, recurrent_dropout=0.5)
    assert not np.allclose(ys[0], ys[1])
    # vmap over keys: one key per sequence.
    keys = jax.random.split(KEY, 2)
    run = jax.vmap(lambda x, k: jlstm.lstm(params, x, key=k, input_dropout=0.5)[1])
    mapped = run(xs, keys)
    single = jlstm.lstm(params, xs[1], key=keys[1], input_dropout=0.5)[1]
    np.testing.assert_allclose(mapped[1], single, atol=1e-6)


def test_dropout_mask_preserves_the_expected_value():
    n, rate = 200_000, 0.3
    mask = np.asarray(variational_mask(KEY, rate, (n,), jnp.float32))
    assert set(np.unique(mask)) == {0.0, np.float32(1 / (1 - rate))}
    dropped = np.mean(mask == 0)
    sigma = np.sqrt(rate * (1 - rate) / n)
    assert abs(dropped - rate) < 5 * sigma
    assert abs(mask.mean() - 1.0) < 5 * sigma / (1 - rate)


def test_zoneout_preserves_the_expected_value():
    # One step from a non-zero state: the mean over many draws is the evaluation value.
    params = make(input_size=3, hidden_size=4)
    batch = 20_000
    x = jnp.asarray(np.repeat(inputs((1, 1, 3)), batch, axis=0))
    state = jlstm.LSTMState(*(jnp.asarray(np.repeat(inputs((1, 4), s), batch, 0)) for s in (2, 3)))
    rates = {"zoneout_h": 0.3, "zoneout_c": 0.6}
    train, _ = jlstm.lstm(params, x, state, key=KEY, **rates)
    evaluation, _ = jlstm.lstm(params, x, state, deterministic=True, **rates)
    for name in ("h", "c"):
        kept = np.mean(np.asarray(getattr(train, name)) == np.asarray(getattr(state, name)))
        assert abs(kept - rates[f"zoneout_{name}"]) < 0.01, (name, kept)
        spread = np.abs(np.asarray(getattr(state, name)[0] - getattr(evaluation, name)[0]))
        mean = np.asarray(getattr(train, name)).mean(axis=0)
        # 5 standard errors of a Bernoulli mean, per unit
        bound = 5 * spread * np.sqrt(0.25 / batch) / min(rates[f"zoneout_{name}"], 0.5) + 1e-6
        assert np.all(np.abs(mean - np.asarray(getattr(evaluation, name)[0])) <= bound), name


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


def test_check_grads_float64(x64):
    params = make_variant(hidden_size=3, proj_size=2, dtype=jnp.float64, **VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 3, 3), dtype=np.float64))
    rates = {"input_dropout": 0.2, "recurrent_dropout": 0.3, "zoneout_h": 0.2, "zoneout_c": 0.3}

    def loss(params, xs):
        state, ys = jlstm.lstm(params, xs, key=KEY, **rates)
        return jnp.sum(ys**2) + jnp.sum(jnp.sin(state.c))

    # Layer norm curves sharply where dropout leaves few units: a smaller finite-difference step.
    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",), eps=1e-6)


PARAMS = jlstm.init_lstm(jax.random.key(0), 3, 4)
XS = jnp.zeros((2, 5, 3), jnp.float32)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"input_dropout": 1.0},
            LSTMValueError,
            r"jlstm.lstm: `input_dropout` must be in \[0, 1\)",
        ),
        ({"zoneout_c": -0.1}, LSTMValueError, r"`zoneout_c` must be in \[0, 1\), got -0.1"),
        (
            {"recurrent_dropout": jnp.array(0.2)},
            LSTMTypeError,
            r"`recurrent_dropout` must be a Python float .*cannot be a traced array",
        ),
        ({"zoneout_h": "0.1"}, LSTMTypeError, r"`zoneout_h` must be a Python float"),
        (
            {"key": 0, "input_dropout": 0.1},
            LSTMTypeError,
            r"`key` must be one PRNG key such as jax.random.key\(0\), got 0",
        ),
        (
            {"key": jax.random.split(KEY, 2), "input_dropout": 0.1},
            LSTMTypeError,
            r"`key` must be one PRNG key .*shape \(2,\).*jax.vmap",
        ),
        ({"return_gates": 1}, LSTMTypeError, r"`return_gates` must be a Python bool, got 1"),
    ],
)
def test_rejects(kwargs, error, match):
    kwargs = {"params": PARAMS, "xs": XS} | kwargs
    with pytest.raises(error, match=match):
        jax.eval_shape(lambda: jlstm.lstm(**kwargs))
