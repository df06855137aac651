"""What the `jlstm.train` tests share: small models, their batches, fresh states, comparisons.

- an LSTM with a linear read-out trained on padded sequence classification (`init_params`,
  `model_params`, `fresh_state`, `loss_fn`, `make_batches`), and its truncated-BPTT form
  (`chunk_loss`, `init_carry`, `make_streams`);
- `manual_run`, the plain Optax loop that the steps of `jlstm.train` must equal;
- a linear model for the tests of plumbing, where the model does not matter and a small
  program compiles fast (`linear_loss`, `linear_state`, `linear_batches`);
- `raw_keys`, to compare states that hold typed PRNG keys as arrays.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jlstm
from jlstm import train
from support.factories import inputs, random_layer

INPUT, HIDDEN, CLASSES = 3, 4, 5
OPTIMIZER = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
SGD = optax.sgd(0.1)


def init_params(key, hidden_size=HIDDEN):
    """`{"lstm": LSTMParams, "out": (hidden, CLASSES)}` drawn from `key`, for `init_ensemble`.

    Uniform in [-0.6, 0.6]: much cheaper to compile than `jlstm.init_lstm`'s orthogonal init.
    """
    keys = iter(jax.random.split(key, 4))

    def draw(*shape):
        return jax.random.uniform(next(keys), shape, jnp.float32, -0.6, 0.6)

    gates = 4 * hidden_size
    lstm = jlstm.LSTMParams(draw(gates, INPUT), draw(gates, hidden_size), draw(gates))
    return {"lstm": lstm, "out": draw(hidden_size, CLASSES)}


def model_params(hidden_size=HIDDEN, proj_size=None, dtype=np.float32):
    """The params of `init_params`' model from fixed NumPy draws, which compile nothing."""
    lstm = random_layer(0, INPUT, hidden_size, proj_size, dtype=dtype)
    out = jnp.asarray(0.5 * inputs((proj_size or hidden_size, CLASSES), seed=2), dtype)
    return {"lstm": lstm, "out": out}


def loss_fn(params, batch, key):
    """Cross-entropy of the read-out over the valid steps, with input noise drawn from `key`."""
    xs, labels, lengths = batch
    xs = xs * (1.0 + 0.1 * jax.random.uniform(key, dtype=xs.dtype))  # key-dependent
    _, hs = jlstm.lstm(params["lstm"], xs, lengths=lengths)
    loss = train.sequence_cross_entropy(hs @ params["out"], labels, lengths)
    return loss, {"loss": loss}


def make_batches(count, batch=4, time=6, *, lead=(), seed=0):
    """`count` NumPy batches `(xs, labels, lengths)`; `lead` axes go before the batch axis."""
    rng = np.random.default_rng(seed)
    shape = (*lead, batch)
    return [
        (
            rng.normal(size=(*shape, time, INPUT)).astype(np.float32),
            rng.integers(0, CLASSES, (*shape, time)).astype(np.int32),
            rng.integers(1, time + 1, shape).astype(np.int32),
        )
        for _ in range(count)
    ]


def fresh_state(optimizer=OPTIMIZER, key=None, **sizes):
    """A `TrainState` of `model_params(**sizes)`, with the PRNG key `key` (by default key 1)."""
    key = jax.random.key(1) if key is None else key
    return train.init_train_state(model_params(**sizes), optimizer, key=key)


@functools.cache
def manual_run(count):
    """The loop every Optax tutorial writes, over `make_batches(count)` from `fresh_state()`.

    It splits the key as every step of `jlstm.train` does. Returns the params and losses.
    """
    state = fresh_state()
    params, opt_state, key = state.params, state.opt_state, state.key

    @jax.jit
    def update(params, opt_state, key, batch):
        key, step_key = jax.random.split(key)
        (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, step_key)
        updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, key, loss

    losses = []
    for batch in make_batches(count):
        params, opt_state, key, loss = update(params, opt_state, key, batch)
        losses.append(float(loss))
    return params, np.array(losses)


def chunk_loss(params, carry, chunk, key):
    """The truncated-BPTT loss of one chunk `(xs, targets)`, started from `carry`."""
    xs, targets = chunk  # (batch, k, INPUT), (batch, k, CLASSES)
    carry, hs = jlstm.lstm(params["lstm"], xs, carry)
    return jnp.mean((hs @ params["out"] - targets) ** 2), (carry, jnp.sum(hs))


def init_carry(params, stream):
    """The zero state of a batch-major stream."""
    return jlstm.zero_state(params["lstm"], stream[0].shape[:1])


def make_streams(count, batch=2, time=10, seed=0):
    """`count` NumPy streams `(xs, targets)`, `(batch, time, INPUT)` and `(..., CLASSES)`."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.normal(size=(batch, time, INPUT)).astype(np.float32),
            rng.normal(size=(batch, time, CLASSES)).astype(np.float32),
        )
        for _ in range(count)
    ]


def linear_loss(params, batch, key):
    """The mean squared error of `xs @ w`, with input noise drawn from `key`."""
    xs, ys = batch
    xs = xs * (1.0 + 0.1 * jax.random.uniform(key, dtype=xs.dtype))  # key-dependent
    return jnp.mean((xs @ params["w"] - ys) ** 2), None


def linear_state(optimizer=SGD, key=1):
    """A `TrainState` of the linear model `{"w": (3, 2)}`."""
    params = {"w": jnp.ones((3, 2), jnp.float32)}
    return train.init_train_state(params, optimizer, key=jax.random.key(key))


LINEAR_STEP = train.make_train_step(linear_loss, SGD)  # one program, shared by the tests


def linear_batches(count, seed=0):
    """`count` NumPy batches `(xs, ys)` of the linear model, `(4, 3)` and `(4, 2)`."""
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32))
        for _ in range(count)
    ]


def raw_keys(tree):
    """`tree` with its typed PRNG keys replaced by their raw data, to compare as arrays."""

    def raw(leaf):
        if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
            return jax.random.key_data(leaf)
        return leaf

    return jax.tree.map(raw, tree)
