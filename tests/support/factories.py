"""Valid arguments of given sizes: inputs, params, states and step flags, from fixed seeds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jlstm
from jlstm import Bidirectional, LSTMParams, LSTMState


def inputs(shape: tuple[int, ...], seed: int = 1, dtype=np.float32) -> np.ndarray:
    """Standard-normal NumPy inputs, e.g. `(batch, time, input_size)`."""
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _glorot_uniform(rng, shape):
    limit = np.sqrt(6.0 / sum(shape))
    return rng.uniform(-limit, limit, shape)


def _orthogonal(rng, shape):
    rows, cols = shape
    q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def init_like(
    seed, input_size, hidden_size, proj_size=None, *, noise=0.0, dtype=np.float32, **options
):
    """Params like `jlstm.init_lstm(**options)` gives, drawn in NumPy: nothing is compiled.

    Glorot-uniform `weight_ih` and `weight_hr`, orthogonal `weight_hh`; the vectors start
    from init's values (bias 0 but 1 for the forget gate, peepholes 0, norm scales 1,
    offsets 0) plus `noise` times a standard normal, so that every term counts. Only the
    structure comes from `init_lstm` (traced by `jax.eval_shape`, not run).
    """
    structure = jax.eval_shape(
        lambda: jlstm.init_lstm(
            jax.random.key(0), input_size, hidden_size, proj_size=proj_size, **options
        )
    )
    rng = np.random.default_rng(seed)

    def vector(base):
        return base + noise * rng.normal(size=base.shape)

    gates = structure.weight_ih.shape[0] // hidden_size  # 3 with CIFG: [f; g; o]
    forget = 0 if gates == 3 else 1
    values = {
        "weight_ih": _glorot_uniform(rng, structure.weight_ih.shape),
        "weight_hh": _orthogonal(rng, structure.weight_hh.shape),
    }
    if structure.weight_hr is not None:
        values["weight_hr"] = _glorot_uniform(rng, structure.weight_hr.shape)
    if structure.bias is not None:
        base = np.zeros((gates, hidden_size))
        base[forget] = 1.0
        values["bias"] = vector(base.ravel())
    if structure.weight_peephole is not None:
        values["weight_peephole"] = vector(np.zeros(structure.weight_peephole.shape))
    if structure.layer_norm is not None:
        norm = structure.layer_norm
        values["layer_norm"] = norm._replace(
            scale_ih=vector(np.ones(norm.scale_ih.shape)),
            scale_hh=vector(np.ones(norm.scale_hh.shape)),
            scale_c=vector(np.ones(norm.scale_c.shape)),
            offset_c=None if norm.offset_c is None else vector(np.zeros(norm.offset_c.shape)),
        )
    params = structure._replace(**values)
    return jax.tree.map(lambda leaf: jax.device_put(np.asarray(leaf).astype(dtype)), params)


def make(input_size=3, hidden_size=5, proj_size=None, bias=True, seed=0, dtype=jnp.float32):
    """Init-like params (see `init_like`) with a random bias, so every term is exercised."""
    return init_like(seed, input_size, hidden_size, proj_size, bias=bias, noise=1.0, dtype=dtype)


def random_layer(seed, input_size, hidden_size, proj_size=None, *, dtype=np.float32):
    """`LSTMParams` drawn uniformly from [-0.6, 0.6] in NumPy: nothing is compiled."""
    rng = np.random.default_rng(seed)

    def draw(*shape):
        return jax.device_put(rng.uniform(-0.6, 0.6, shape).astype(dtype))

    out_size = proj_size or hidden_size
    weight_hr = draw(proj_size, hidden_size) if proj_size else None
    return LSTMParams(
        draw(4 * hidden_size, input_size),
        draw(4 * hidden_size, out_size),
        draw(4 * hidden_size),
        weight_hr,
    )


def random_params(seed, input_size, hidden_size, proj_size=None, *, dtype=np.float32, **options):
    """Params of `jlstm.init_lstm(**options)`'s structure (e.g. variants), uniform in [-0.6, 0.6].

    Only the shapes come from `init_lstm` (traced, not run): nothing is compiled.
    """
    abstract = jax.eval_shape(
        lambda: jlstm.init_lstm(
            jax.random.key(0), input_size, hidden_size, proj_size=proj_size, **options
        )
    )
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda leaf: jax.device_put(rng.uniform(-0.6, 0.6, leaf.shape).astype(dtype)), abstract
    )


def random_state(seed, params, batch_shape, dtype=np.float32) -> LSTMState:
    """A random `LSTMState` for the layer `params`."""
    h = inputs((*batch_shape, params.weight_hh.shape[1]), seed, dtype)
    c = inputs((*batch_shape, params.weight_hh.shape[0] // 4), seed + 1, dtype)
    return LSTMState(jax.device_put(h), jax.device_put(c))


# The variants of `jlstm.init_lstm`, alone and all together.
VARIANTS = {
    "peephole": {"peephole": True},
    "layer_norm": {"layer_norm": True},
    "cifg": {"cifg": True},
    "all": {"peephole": True, "layer_norm": True, "cifg": True},
}


def make_variant(
    input_size=3, hidden_size=4, proj_size=None, *, seed=0, dtype=jnp.float32, **options
):
    """Init-like params of `jlstm.init_lstm(**options)` (e.g. variants), every vector noisy.

    The weight matrices are init's kind; the vectors (bias, peepholes, norms) move away from
    their constant init by half a standard normal, so that every term of the variant
    equations counts.
    """
    return init_like(seed, input_size, hidden_size, proj_size, noise=0.5, dtype=dtype, **options)


# (batch=4, time=7) step flags: a gapped `mask` (one sequence fully masked, one never).
GAPPED = np.array(
    [
        [1, 0, 1, 1, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 1, 1],
        [0, 1, 0, 1, 0, 1, 0],
    ],
    bool,
)
# (batch=4, time=8) `resets`: flags at the first step, in a row, none, and at the last step.
RESETS = np.array(
    [
        [0, 0, 1, 0, 0, 1, 0, 0],
        [1, 0, 0, 0, 1, 1, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0, 1],
    ],
    bool,
)


def mixed_stack(dtype=np.float32):
    """Plain and bidirectional layers of different sizes: 3 -> 5 -> (2 + 3) -> 4."""
    return (
        random_layer(10, 3, 5, dtype=dtype),
        Bidirectional(random_layer(11, 5, 4, 2, dtype=dtype), random_layer(12, 5, 3, dtype=dtype)),
        random_layer(13, 5, 4, dtype=dtype),
    )


def mixed_states(batch_shape, dtype=np.float32):
    """Initial states for `mixed_stack`: random, except zeros (None) in two places."""
    params = mixed_stack(dtype)
    return (
        random_state(20, params[0], batch_shape, dtype),
        Bidirectional(None, random_state(22, params[1].backward, batch_shape, dtype)),
        None,
    )


def hello() -> np.ndarray:
    """The classic demo input: one-hot "hello", "eolll", "lleel" over [h, e, l, o], (3, 5, 4)."""
    words = ("hello", "eolll", "lleel")
    return np.eye(4, dtype=np.float32)[[["helo".index(c) for c in w] for w in words]]
