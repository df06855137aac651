"""Property-based tests (hypothesis) over shapes, lengths and layer configurations.

- Padding never changes anything valid: whatever the padded steps hold (NaN, inf, noise),
  valid outputs and final states are those of the unpadded sequence, padded outputs are 0.
- A batch of one equals the unbatched call.
- Reversing each valid prefix, running with `reverse=True` and reversing the outputs back
  gives the forward run: reversal twice is the identity on the valid steps.
- Splitting a sequence at any step and carrying the state into the second part equals one
  pass, for stacks of layers with or without lengths.

Each example compiles new programs, so the example counts stay small.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jlstm

pytestmark = pytest.mark.slow  # every example compiles new programs

SETTINGS = settings(max_examples=5, deadline=None, print_blob=True)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}

lstm = jax.jit(jlstm.lstm, static_argnames=("reverse", "time_major"))
stack = jax.jit(jlstm.stack)


def perturbed(params, seed):
    """Every leaf replaced by random values: peepholes and norms away from their init."""
    leaves, treedef = jax.tree.flatten(params)
    rng = np.random.default_rng(seed)
    values = [rng.normal(0.0, 0.6, leaf.shape).astype(np.float32) for leaf in leaves]
    return jax.tree.unflatten(treedef, [jnp.asarray(v) for v in values])


@st.composite
def layer_options(draw):
    """Options of `jlstm.init_lstm`: a projection and any mix of the variants."""
    hidden_size = draw(st.integers(1, 4))
    proj_size = draw(st.none() | st.integers(1, hidden_size - 1)) if hidden_size > 1 else None
    variants = {name: draw(st.booleans()) for name in ("peephole", "layer_norm", "cifg")}
    return {"hidden_size": hidden_size, "proj_size": proj_size, "bias": draw(st.booleans())} | (
        variants
    )


@st.composite
def problems(draw, *, max_batch_dims=2):
    """Random params, inputs `(*batch, time, input_size)` and lengths `(*batch,)`."""
    input_size = draw(st.integers(1, 4))
    options = draw(layer_options())
    seed = draw(st.integers(0, 2**16))
    params = jlstm.init_lstm(jax.random.key(seed), input_size, **options)
    params = perturbed(params, seed)
    batch_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=max_batch_dims)))
    time = draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((*batch_shape, time, input_size)).astype(np.float32)
    lengths = rng.integers(0, time + 1, batch_shape).astype(np.int32)
    return params, jnp.asarray(xs), jnp.asarray(lengths)


def valid_steps(lengths, time):
    return np.arange(time) < np.asarray(lengths)[..., None]


@SETTINGS
@given(problems(), st.sampled_from([jnp.nan, jnp.inf, 1e6]))
def test_padding_never_changes_valid_outputs(problem, filler):
    params, xs, lengths = problem
    valid = valid_steps(lengths, xs.shape[-2])
    padded = jnp.where(valid[..., None], xs, filler)
    state, ys = lstm(params, xs, lengths=lengths)
    padded_state, padded_ys = lstm(params, padded, lengths=lengths)
    jax.tree.map(np.testing.assert_array_equal, (padded_state, padded_ys), (state, ys))
    assert not np.asarray(ys)[~valid].any()
    # One sequence on its own, cut to its length.
    index = tuple(np.zeros(lengths.ndim, int))
    length = int(lengths[index])
    alone_state, alone = lstm(params, xs[index][:length])
    np.testing.assert_allclose(ys[index][:length], alone, **TOLERANCE)
    if length:
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[index], b, **TOLERANCE),
                     state, alone_state)  # fmt: skip


@SETTINGS
@given(problems(max_batch_dims=0), st.booleans(), st.booleans())
def test_batch_of_one_equals_unbatched(problem, use_lengths, reverse):
    params, xs, lengths = problem
    lengths = lengths if use_lengths else None
    state, ys = lstm(params, xs, lengths=lengths, reverse=reverse)
    one = None if lengths is None else lengths[None]
    batched_state, batched = lstm(params, xs[None], lengths=one, reverse=reverse)
    np.testing.assert_allclose(batched[0], ys, **TOLERANCE)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a[0], b, **TOLERANCE), batched_state, state
    )


def reverse_valid(xs, lengths):
    """Reverse each sequence's valid prefix along time (axis -2); padding stays in place."""
    time = xs.shape[-2]
    steps = np.arange(time)
    source = np.where(steps < lengths[..., None], lengths[..., None] - 1 - steps, steps)
    return np.take_along_axis(np.asarray(xs), source[..., None], axis=-2)


@SETTINGS
@given(problems(), st.booleans())
def test_reverse_twice_is_the_identity_on_valid_steps(problem, time_major):
    params, xs, lengths = problem
    lengths_np = np.asarray(lengths)
    flipped = jnp.asarray(reverse_valid(xs, lengths_np))
    if time_major:
        xs, flipped = jnp.moveaxis(xs, -2, 0), jnp.moveaxis(flipped, -2, 0)
    state, ys = lstm(params, xs, lengths=lengths, time_major=time_major)
    back_state, back = lstm(params, flipped, lengths=lengths, reverse=True, time_major=time_major)
    if time_major:
        ys, back = jnp.moveaxis(ys, 0, -2), jnp.moveaxis(back, 0, -2)
    np.testing.assert_allclose(reverse_valid(back, lengths_np), ys, **TOLERANCE)
    jax.tree.map(functools.partial(np.testing.assert_allclose, **TOLERANCE), back_state, state)


@st.composite
def stacks(draw):
    """A stack of 1 to 3 one-direction layers with random sizes, variants and params."""
    input_size = draw(st.integers(1, 4))
    layers, size = [], input_size
    for k in range(draw(st.integers(1, 3))):
        options = draw(layer_options())
        layers.append(jlstm.init_lstm(jax.random.key(k), size, **options))
        size = options["proj_size"] or options["hidden_size"]
    return perturbed(tuple(layers), draw(st.integers(0, 2**16))), input_size


@SETTINGS
@given(stacks(), st.integers(2, 6), st.data())
def test_splitting_and_carrying_the_state_equals_one_pass(stack_and_size, time, data):
    params, input_size = stack_and_size
    split = data.draw(st.integers(1, time - 1), label="split")
    batch = data.draw(st.integers(1, 3), label="batch")
    rng = np.random.default_rng(time * 10 + split)
    xs = jnp.asarray(rng.standard_normal((batch, time, input_size)).astype(np.float32))
    lengths = None
    if data.draw(st.booleans(), label="lengths"):
        lengths = jnp.asarray(rng.integers(0, time + 1, batch).astype(np.int32))
    states, ys = stack(params, xs, lengths=lengths)
    first_lengths = second_lengths = None
    if lengths is not None:
        first_lengths = jnp.minimum(lengths, split)
        second_lengths = jnp.maximum(lengths - split, 0)
    middle, first = stack(params, xs[:, :split], lengths=first_lengths)
    last, second = stack(params, xs[:, split:], middle, lengths=second_lengths)
    np.testing.assert_allclose(jnp.concatenate([first, second], axis=1), ys, **TOLERANCE)
    jax.tree.map(functools.partial(np.testing.assert_allclose, **TOLERANCE), last, states)
