"""The benchmark's peers: every LSTM library, loaded with the weights of one `jlstm.LSTMParams`.

Each peer becomes a `Prepared`: a forward program and a forward+backward program (gradients of
`sum(ys)` w.r.t. the weights and the inputs), ready to be called, plus the outputs and input
gradients of its first calls for the parity check. JAX peers are compiled ahead of time with
`jax.jit(...).lower(...).compile()`, which gives the compile time and XLA's memory analysis.

Weight layouts, read from each library's source (jlstm: `z = W_ih x + W_hh h + b`, gate rows
`[i; f; g; o]`):
- Flax linen `OptimizedLSTMCell`: one Dense per gate and operand, `ii, if, ig, io` (kernel
  `(input, hidden)`, no bias) and `hi, hf, hg, ho` (kernel `(hidden, hidden)` with the bias).
- Flax NNX `OptimizedLSTMCell`: `dense_i.kernel = W_ih.T`, `dense_h.kernel = W_hh.T`,
  `dense_h.bias = b`, gates i, f, g, o.
- Equinox `LSTMCell`: `weight_ih`, `weight_hh`, `bias` exactly as jlstm.
- Keras `LSTM`: `[kernel, recurrent_kernel, bias] = [W_ih.T, W_hh.T, b]`, gates i, f, c, o.
- Haiku `LSTM`: one `Linear` on `concat([x, h])`, `w` of shape `(input + hidden, 4 hidden)`,
  gates i, g, f, o, and it adds 1 to the forget gate at run time, so its bias holds `b_f - 1`.
- PyTorch `nn.LSTM`: `weight_ih_l0 = W_ih`, `weight_hh_l0 = W_hh`, `bias_ih_l0 = b` and
  `bias_hh_l0 = 0`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jlstm

# Short names for --peers, each with the module whose absence skips it.
PEER_MODULES = {
    "jlstm": "jlstm",
    "flax-linen": "flax",
    "flax-nnx": "flax",
    "haiku": "haiku",
    "equinox": "equinox",
    "keras": "keras",
    "torch": "torch",
}
TORCH_THREADS = (1, 2)


class Program(NamedTuple):
    """One benchmarked computation."""

    call: Callable[[], Any]  # runs it once and returns when the result is ready
    compile_s: float | None  # trace + lower + XLA compile; None for eager PyTorch
    memory_bytes: int | None  # see `Prepared`
    setup: Callable[[], None] | None = None  # run (untimed) before each batch of calls


class Prepared(NamedTuple):
    """A peer ready to time.

    Memory: for JAX, XLA's temp + output bytes of the compiled program. For PyTorch, a lower
    bound: bytes of the outputs (forward), plus the tensors autograd saves for the backward
    pass and the gradients (forward+backward), without parameters, inputs or oneDNN scratch.
    """

    name: str
    label: str
    forward: Program
    fwdbwd: Program
    ys: np.ndarray  # (batch, time, hidden) outputs of the forward program
    dxs: np.ndarray  # (batch, time, input) gradient of sum(ys) w.r.t. the inputs
    threads: int | None = None  # PyTorch intra-op threads

    @property
    def key(self) -> str:
        """Unique among prepared peers: PyTorch's thread count is part of it."""
        return self.name if self.threads is None else f"{self.name}-{self.threads}t"


class JaxPeer(NamedTuple):
    """A JAX LSTM as a pure function of its weights."""

    label: str
    weights: Any  # the pytree the forward+backward program differentiates
    forward: Callable[[Any, jax.Array], jax.Array]  # (weights, xs (B, T, I)) -> ys (B, T, H)
    allow_rank_promotion: bool = False  # the library's code broadcasts ranks implicitly


def _gates(array: np.ndarray) -> list[np.ndarray]:
    """The four gate blocks i, f, g, o of a jlstm weight or bias (split along axis 0)."""
    return np.split(np.asarray(array), 4, axis=0)


def _sizes(params: jlstm.LSTMParams) -> tuple[int, int]:
    return params.weight_ih.shape[1], params.weight_hh.shape[1]


def to_flax_linen(params: jlstm.LSTMParams) -> dict:
    """Variables of `nn.RNN(nn.OptimizedLSTMCell(hidden))`."""
    cell = {}
    blocks = zip(
        _gates(params.weight_ih), _gates(params.weight_hh), _gates(params.bias), strict=True
    )
    for gate, (w_i, w_h, b) in zip("ifgo", blocks, strict=True):
        cell[f"i{gate}"] = {"kernel": jnp.asarray(w_i.T)}
        cell[f"h{gate}"] = {"kernel": jnp.asarray(w_h.T), "bias": jnp.asarray(b)}
    return {"params": {"cell": cell}}


def to_keras(params: jlstm.LSTMParams) -> list[np.ndarray]:
    """`[kernel, recurrent_kernel, bias]` of `keras.layers.LSTM`."""
    return [np.asarray(params.weight_ih).T, np.asarray(params.weight_hh).T, np.asarray(params.bias)]


def to_haiku(params: jlstm.LSTMParams) -> dict:
    """Params of `hk.LSTM` (module name `lstm`)."""
    blocks = zip(_gates(params.weight_ih), _gates(params.weight_hh), strict=True)
    i, f, g, o = (np.concatenate([w_i, w_h], axis=1) for w_i, w_h in blocks)
    b_i, b_f, b_g, b_o = _gates(params.bias)
    weight = np.concatenate([i, g, f, o], axis=0).T  # acts on concat([x, h])
    bias = np.concatenate([b_i, b_g, b_f - 1, b_o])  # hk.LSTM adds the 1 back at run time
    return {"lstm/linear": {"w": jnp.asarray(weight), "b": jnp.asarray(bias)}}


def to_torch(params: jlstm.LSTMParams) -> dict[str, np.ndarray]:
    """`state_dict` of a one-layer `torch.nn.LSTM`; jlstm's single bias goes to `bias_ih_l0`."""
    bias = np.asarray(params.bias)
    return {
        "weight_ih_l0": np.asarray(params.weight_ih),
        "weight_hh_l0": np.asarray(params.weight_hh),
        "bias_ih_l0": bias,
        "bias_hh_l0": np.zeros_like(bias),
    }


def _jlstm(params: jlstm.LSTMParams, xs_shape: tuple[int, ...]) -> JaxPeer:
    return JaxPeer("jlstm `lstm`", params, lambda params, xs: jlstm.lstm(params, xs)[1])


def _flax_linen(params: jlstm.LSTMParams, xs_shape: tuple[int, ...]) -> JaxPeer:
    import flax.linen as nn

    model = nn.RNN(nn.OptimizedLSTMCell(_sizes(params)[1]))
    return JaxPeer("Flax linen `RNN(OptimizedLSTMCell)`", to_flax_linen(params), model.apply)


def _flax_nnx(params: jlstm.LSTMParams, xs_shape: tuple[int, ...]) -> JaxPeer:
    from flax import nnx

    input_size, hidden = _sizes(params)
    # No RNG stream in the RNN (it only feeds the zero carry): the carry is passed in.
    overwritten = nnx.initializers.zeros  # skip the (compiled, orthogonal) initialisation
    cell = nnx.OptimizedLSTMCell(
        input_size,
        hidden,
        kernel_init=overwritten,
        recurrent_kernel_init=overwritten,
        rngs=nnx.Rngs(0),
    )
    model = nnx.RNN(cell, rngs=False)
    model.cell.dense_i.kernel[...] = jnp.asarray(params.weight_ih.T)
    model.cell.dense_h.kernel[...] = jnp.asarray(params.weight_hh.T)
    model.cell.dense_h.bias[...] = jnp.asarray(params.bias)
    # NNX's fastest form: split once outside, merge inside the jitted function.
    graphdef, weights = nnx.split(model)

    def forward(weights: Any, xs: jax.Array) -> jax.Array:
        zeros = jnp.zeros((xs.shape[0], hidden), xs.dtype)
        return nnx.merge(graphdef, weights)(xs, initial_carry=(zeros, zeros))

    return JaxPeer("Flax NNX `RNN(OptimizedLSTMCell)`, split/merge", weights, forward)


def _haiku(params: jlstm.LSTMParams, xs_shape: tuple[int, ...]) -> JaxPeer:
    import haiku as hk

    hidden = _sizes(params)[1]

    def unroll(xs: jax.Array) -> jax.Array:
        core = hk.LSTM(hidden)
        state = core.initial_state(xs.shape[0])
        return hk.dynamic_unroll(core, xs, state, time_major=False)[0]

    model = hk.without_apply_rng(hk.transform(unroll))
    return JaxPeer("Haiku `LSTM` + `dynamic_unroll`", to_haiku(params), model.apply)


def _equinox(params: jlstm.LSTMParams, xs_shape: tuple[int, ...]) -> JaxPeer:
    import equinox as eqx

    input_size, hidden = _sizes(params)
    cell = eqx.nn.LSTMCell(input_size, hidden, key=jax.random.key(0))
    cell = eqx.tree_at(
        lambda cell: (cell.weight_ih, cell.weight_hh, cell.bias),
        cell,
        tuple(jnp.asarray(w) for w in params[:3]),
    )

    def forward(cell: Any, xs: jax.Array) -> jax.Array:
        def sequence(xs: jax.Array) -> jax.Array:  # (time, input) -> (time, hidden)
            def body(carry: tuple, x: jax.Array) -> tuple[tuple, jax.Array]:
                carry = cell(x, carry)
                return carry, carry[0]

            zeros = jnp.zeros(hidden, xs.dtype)
            return jax.lax.scan(body, (zeros, zeros), xs)[1]

        return jax.vmap(sequence)(xs)

    return JaxPeer("Equinox `LSTMCell` + scan + vmap", cell, forward)


def _keras(params: jlstm.LSTMParams, xs_shape: tuple[int, ...]) -> JaxPeer:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        raise ImportError(f"keras runs on the {keras.backend.backend()} backend, not jax")
    hidden = _sizes(params)[1]
    # Weights that are overwritten need no (slow, orthogonal) initialisation.
    layer = keras.layers.LSTM(
        hidden, return_sequences=True, kernel_initializer="zeros", recurrent_initializer="zeros"
    )
    layer.build(xs_shape)
    layer.set_weights(to_keras(params))
    weights = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    def forward(weights: list, xs: jax.Array) -> jax.Array:
        return layer.stateless_call(weights, fixed, xs)[0]

    return JaxPeer("Keras 3 `LSTM` (JAX, stateless_call)", weights, forward, True)


JAX_BUILDERS: dict[str, Callable[[jlstm.LSTMParams, tuple[int, ...]], JaxPeer]] = {
    "jlstm": _jlstm,
    "flax-linen": _flax_linen,
    "flax-nnx": _flax_nnx,
    "haiku": _haiku,
    "equinox": _equinox,
    "keras": _keras,
}


def _compile(fn: Callable, args: tuple, allow_rank_promotion: bool) -> Program:
    # Keras' code is traced under "allow"; the compiled program no longer depends on it.
    promotion = jax.numpy_rank_promotion("allow") if allow_rank_promotion else None
    start = time.perf_counter()
    with promotion or contextlib.nullcontext():
        compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    stats = compiled.memory_analysis()
    memory = None if stats is None else stats.temp_size_in_bytes + stats.output_size_in_bytes
    return Program(lambda: jax.block_until_ready(compiled(*args)), compile_s, memory)


def _prepare_jax(name: str, peer: JaxPeer, xs: jax.Array) -> Prepared:
    def loss(weights: Any, xs: jax.Array) -> jax.Array:
        return jnp.sum(peer.forward(weights, xs))

    args = jax.device_put((peer.weights, xs))  # no host-to-device copy inside the timed calls
    forward = _compile(peer.forward, args, peer.allow_rank_promotion)
    fwdbwd = _compile(jax.value_and_grad(loss, argnums=(0, 1)), args, peer.allow_rank_promotion)
    _, (_, dxs) = fwdbwd.call()
    return Prepared(name, peer.label, forward, fwdbwd, np.asarray(forward.call()), np.asarray(dxs))


def _prepare_torch(params: jlstm.LSTMParams, xs: np.ndarray) -> list[Prepared]:
    import torch

    module = torch.nn.LSTM(*_sizes(params), batch_first=True)
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in to_torch(params).items()})
    xs_plain = torch.from_numpy(xs.copy())
    xs_grad = xs_plain.clone().requires_grad_()

    def forward() -> Any:
        with torch.no_grad():
            return module(xs_plain)

    def fwdbwd() -> Any:
        module.zero_grad(set_to_none=True)
        xs_grad.grad = None
        ys, state = module(xs_grad)
        ys.sum().backward()
        return ys, state

    def nbytes(tensors: Any) -> int:
        return sum(t.untyped_storage().nbytes() for t in tensors)

    # Tensors autograd keeps for the backward pass, apart from the weights and the inputs.
    given = {t.untyped_storage().data_ptr() for t in (xs_grad, *module.parameters())}
    saved: dict[int, int] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in given:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        ys, (h, c) = fwdbwd()
    outputs = nbytes((ys, h, c))
    grads = nbytes([xs_grad.grad, *(p.grad for p in module.parameters())])
    dxs = xs_grad.grad.numpy().copy()
    prepared = []
    for threads in TORCH_THREADS:

        def setup(threads: int = threads) -> None:
            torch.set_num_threads(threads)

        prepared.append(
            Prepared(
                "torch",
                "PyTorch `nn.LSTM`",
                Program(forward, None, outputs, setup),
                Program(fwdbwd, None, sum(saved.values()) + outputs + grads, setup),
                forward()[0].numpy().copy(),
                dxs,
                threads,
            )
        )
    return prepared


def prepare(name: str, params: jlstm.LSTMParams, xs: np.ndarray) -> list[Prepared]:
    """Compile (JAX) or build (PyTorch) one peer on `xs` of shape `(batch, time, input)`.

    Returns one `Prepared` for a JAX peer, one per thread count for PyTorch. Raises
    ImportError when the library is not installed.
    """
    if name == "torch":
        return _prepare_torch(params, xs)
    peer = JAX_BUILDERS[name](params, xs.shape)
    return [_prepare_jax(name, peer, jnp.asarray(xs))]
