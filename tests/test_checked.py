"""The checked mode: `checks=True` run by `jlstm.checked` reports what tracing cannot see.

Traced `lengths` outside `[0, time]` and non-finite inputs at the steps that are read, with
the index of the first one; without it the program holds no check and traced lengths are
clipped.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify
from support.assertions import all_finite, assert_same_tree
from support.factories import inputs, random_layer
from support.layers import run

import jlstm
from jlstm import Bidirectional, LSTMValueError

BATCH, TIME, INPUT, HIDDEN = 3, 7, 5, 4
XS = jnp.asarray(inputs((BATCH, TIME, INPUT)))
PARAMS = random_layer(0, INPUT, HIDDEN)


def checked_outputs(params=None, **options):
    params = PARAMS if params is None else params
    return jlstm.checked(jax.jit(lambda xs, lengths: run(params, xs, lengths=lengths, **options)))


@pytest.mark.parametrize(
    "kind, lengths, bad",
    [
        ("lstm", [7, 8, 1], "got 8 at lengths\\[1\\]"),
        pytest.param(
            "bidirectional", [-1, 3, 9], "got -1 at lengths\\[0\\]", marks=pytest.mark.slow
        ),
        pytest.param("stack", [7, 8, 1], "got 8 at lengths\\[1\\]", marks=pytest.mark.slow),
    ],
)
def test_checked_mode_reports_traced_lengths_out_of_range(kind, lengths, bad):
    params = {
        "lstm": PARAMS,
        "bidirectional": Bidirectional(PARAMS, random_layer(1, INPUT, HIDDEN)),
        "stack": (PARAMS, random_layer(2, HIDDEN, HIDDEN)),
    }[kind]
    checked = checked_outputs(params, checks=True)
    checked(XS, jnp.array([7, 2, 0]))
    message = r"^jlstm\.lstm: `lengths` must be in \[0, 7\] \(the number of time steps\), "
    with pytest.raises(LSTMValueError, match=message + bad + r"\. Without checks it is clipped"):
        checked(XS, jnp.array(lengths))


@pytest.mark.slow
def test_traced_lengths_are_clipped_without_checks():
    params, xs = PARAMS, XS
    clipped = jax.jit(lambda n: jlstm.lstm(params, xs, lengths=n))(jnp.array([9, -2, 3]))
    expected = jlstm.lstm(params, xs, lengths=np.array([TIME, 0, 3]))
    assert_same_tree(clipped, expected)


@pytest.mark.slow
@pytest.mark.parametrize(
    "time_major, value, where",
    [(False, jnp.nan, "xs\\[2, 4, 1\\]"), (True, -jnp.inf, "xs\\[4, 2, 1\\]")],
)
def test_checked_mode_reports_the_first_non_finite_input(time_major, value, where):
    xs = XS.at[2, 4, 1].set(value).at[2, 6, 0].set(jnp.nan)
    xs = jnp.moveaxis(xs, 1, 0) if time_major else xs
    checked = checked_outputs(checks=True, time_major=time_major)
    message = rf"^jlstm\.lstm: `xs` must be finite at every step that is read, got {value} at "
    with pytest.raises(LSTMValueError, match=message + where + r"\.$"):
        checked(xs, jnp.array([TIME] * BATCH))


@pytest.mark.slow
def test_checked_mode_ignores_padding_and_masked_steps():
    params = PARAMS
    xs = XS.at[0, 5].set(jnp.nan).at[1, 2].set(jnp.inf)
    mask = np.ones((BATCH, TIME), bool)
    mask[1, 2] = False

    def outputs(xs, lengths):
        return jlstm.lstm(params, xs, lengths=lengths, mask=mask, checks=True)[1]

    jlstm.checked(jax.jit(outputs))(xs, jnp.array([5, TIME, TIME]))
    with pytest.raises(LSTMValueError, match=r"got nan at xs\[0, 5, 0\]"):
        jlstm.checked(jax.jit(outputs))(xs, jnp.array([6, TIME, TIME]))


@pytest.mark.slow
def test_checked_mode_under_grad_and_vmap():
    params = PARAMS

    def loss(params, xs, lengths):
        return jnp.sum(jlstm.lstm(params, xs, lengths=lengths, checks=True)[1])

    grad = jlstm.checked(jax.jit(jax.grad(loss)))
    assert all_finite(grad(params, XS, jnp.array([7, 2, 3])))
    with pytest.raises(LSTMValueError, match=r"got 8 at lengths\[2\]"):
        grad(params, XS, jnp.array([7, 2, 8]))
    per_sequence = jax.vmap(lambda xs, n: jlstm.lstm(params, xs, lengths=n, checks=True)[1])
    with pytest.raises(LSTMValueError, match=r"got 8 at lengths"):
        jlstm.checked(jax.jit(per_sequence))(XS, jnp.array([7, 2, 8]))


def test_checks_are_opt_in():
    params, xs, lengths = PARAMS, XS, jnp.array([7, 2, 3])

    def program(checks):
        return jax.make_jaxpr(lambda x, n: jlstm.lstm(params, x, lengths=n, checks=checks))

    def primitives(jaxpr):
        return {eqn.primitive.name for eqn in jaxpr.jaxpr.eqns}

    assert "check" in primitives(program(True)(xs, lengths))
    assert "check" not in primitives(program(False)(xs, lengths))


@pytest.mark.slow
def test_checks_compiled_without_checked_say_how_to_run_them():
    # Not in the registry of tests/test_bad_inputs.py: it raises when jit compiles the
    # call (checkify can only take the checks out then), so jax.eval_shape cannot see it.
    def outputs(xs):
        return jlstm.lstm(PARAMS, xs, lengths=jnp.array([7, 2, 3]), checks=True)[1]

    message = r"^jlstm\.lstm: `checks` must be True only in a function run by jlstm\.checked"
    hint = r".*Wrap the function: jlstm\.checked\(jax\.jit\(fn\)\)"
    for compiled in (jax.jit(outputs), jax.jit(jax.grad(lambda xs: outputs(xs).sum()))):
        with pytest.raises(LSTMValueError, match=message + hint):
            compiled(XS)
    bad = XS.at[0, 2, 1].set(jnp.nan)
    with pytest.raises(
        LSTMValueError, match=r"^jlstm\.lstm: `xs` must be finite.*xs\[0, 2, 1\]\.$"
    ):
        jlstm.checked(jax.jit(outputs))(bad)  # the advice works, after the failed compile
    with pytest.raises(
        LSTMValueError, match=r"^jlstm\.lstm: `xs` must be finite.*xs\[0, 2, 1\]\.$"
    ):
        outputs(bad)  # eagerly, a check raises at once, as a jlstm error
    error, _ = jax.jit(checkify.checkify(outputs, errors=checkify.user_checks))(bad)
    assert "xs[0, 2, 1]" in error.get()
