"""The transform matrix: the public entries under JAX's transforms, in each configuration.

Entries (5): `jlstm.lstm`, `jlstm.bidirectional`, a 2-layer `jlstm.stack`, the linen
`jlstm.flax.LSTM` (through `apply`) and the `jlstm.flax.NNXLSTM` (through `nnx.split`,
`nnx.merge` and `load`), each as a pure function `run(params, xs, steps, key)` of the jlstm
params that returns `(final state, outputs)`.
Configurations (5): plain; variable `lengths`; a gapped `mask`; dropout drawn from a key
(`recurrent_dropout`, and `dropout` between the layers of the stack); `dtype=jnp.bfloat16`
products.
Transforms (13): `jit`, `grad`, `vjp`, `jvp`, `jacfwd`, `jacrev`, `hessian`, `linearize`,
`vmap` over the batch, over params and over keys, `checkpoint` and `eval_shape`.

The 325 triples of the full product are too slow for CI, so the cases are a pairwise
covering, chosen greedily from the product: every (entry, configuration), (entry, transform)
and (configuration, transform) pair appears in at least one case, except the pairs that
cannot run (`UNSUPPORTED`): only dropout reads a key.
`test_triples_cover_every_pair_that_runs` holds the list to that rule.

Every case compares numbers with an oracle that does not use the transform under test: the
eager call, a Python loop, the other autodiff mode, central finite differences of the float32
run, and for the gradients of the one-layer entries the autodiff of
`jlstm.scan(jlstm.lstm_cell)`. A bfloat16 case takes the finite differences of its float32
twin, at a looser tolerance. The transforms run under `jax.jit`, as eager dispatch of the
loops op by op is several times slower than compiling them; `jit` is checked against eager.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jlstm

jflax = pytest.importorskip("jlstm.flax")
nnx = pytest.importorskip("flax.nnx")

Run = Callable[[Any, jax.Array, dict[str, jax.Array], jax.Array], Any]
Flat = Callable[[jax.Array], jax.Array]
Triple = tuple[str, str, str]

ENTRIES = ("lstm", "bidirectional", "stack", "linen", "nnx")
CONFIGS = ("plain", "lengths", "mask", "dropout", "bf16")
TRANSFORMS = (
    "jit",
    "grad",
    "vjp",
    "jvp",
    "jacfwd",
    "jacrev",
    "hessian",
    "linearize",
    "vmap_batch",
    "vmap_params",
    "vmap_keys",
    "checkpoint",
    "eval_shape",
)
# Pairs no case can hold: a key only matters with dropout.
UNSUPPORTED = frozenset((config, "vmap_keys") for config in CONFIGS if config != "dropout")

BATCH, TIME, INPUT, HIDDEN = 3, 4, 3, 4
LENGTHS = np.array([4, 2, 1])
MASK = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [0, 0, 1, 1]], bool)  # gapped, left-padded
RATE = 0.25
OPTIONS = {"dropout": {"recurrent_dropout": RATE}, "bf16": {"dtype": jnp.bfloat16}}
STEPS = {"lengths": {"lengths": LENGTHS}, "mask": {"mask": MASK}}
MEMBERS = 3  # params sets or keys under `vmap`
# These programs run for microseconds: XLA's backend optimisations would take a third of
# the compile time, the bulk of the file's. The transform `jit` itself compiles by default.
fast_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def _pairs(triple: Triple) -> set[tuple[str, str]]:
    entry, config, transform = triple
    return {(entry, config), (entry, transform), (config, transform)}


def _pairwise() -> list[Triple]:
    """Greedy all-pairs: take the runnable triple covering most uncovered pairs, first wins."""
    product = itertools.product(ENTRIES, CONFIGS, TRANSFORMS)
    candidates = [triple for triple in product if not _pairs(triple) & UNSUPPORTED]
    uncovered = set().union(*map(_pairs, candidates))
    chosen = []
    while uncovered:
        best = max(candidates, key=lambda triple: len(_pairs(triple) & uncovered))
        chosen.append(best)
        uncovered -= _pairs(best)
    return chosen


TRIPLES = _pairwise()


@dataclasses.dataclass(frozen=True)
class _Tolerance:
    """Relative to the largest element of the oracle (see `_close`)."""

    same: float  # what should not move the numbers: jit, vmap, checkpoint, primal outputs
    ad: float  # two autodiff paths: forward against reverse, against the scan reference
    fd: float  # against central finite differences of the float32 twin


FLOAT32 = _Tolerance(same=1e-6, ad=1e-5, fd=1e-3)
BFLOAT16 = _Tolerance(same=1e-6, ad=1e-2, fd=5e-2)


@dataclasses.dataclass(frozen=True)
class _Case:
    entry: str
    config: str
    run: Run  # the subject of the transforms
    reference: Run | None  # `jlstm.scan(jlstm.lstm_cell)`, for the one-layer entries
    params: Any
    ensemble: Any  # `MEMBERS` params sets stacked along a leading axis
    xs: jax.Array
    steps: dict[str, jax.Array]
    key: jax.Array
    tol: _Tolerance

    @property
    def args(self) -> tuple[Any, jax.Array, dict[str, jax.Array], jax.Array]:
        return self.params, self.xs, self.steps, self.key

    @functools.cached_property
    def theta(self) -> jax.Array:
        """Params and inputs as one flat vector: the point of the derivatives."""
        return ravel_pytree((self.params, self.xs))[0]

    def flat(self, run: Run) -> Flat:
        """`run` as a map of `theta` to the flat vector of its outputs."""
        unravel = ravel_pytree((self.params, self.xs))[1]
        return lambda theta: _flat(run(*unravel(theta), self.steps, self.key))

    @functools.cached_property
    def fun(self) -> Flat:
        """The subject of the derivatives."""
        return self.flat(self.run)

    @functools.cached_property
    def directions(self) -> tuple[jax.Array, jax.Array]:
        """A random tangent `u` of `theta` and cotangent `w` of the outputs."""
        return _normal(8, self.theta), _normal(9, jax.eval_shape(self.fun, self.theta))

    # The oracles shared by the transforms, compiled once per (entry, configuration).
    @functools.cached_property
    def compiled(self) -> Run:
        return fast_jit(self.run)

    @functools.cached_property
    def primal(self) -> Flat:
        return self.flat(self.compiled)

    @functools.cached_property
    def fd_jacobian(self) -> jax.Array:
        """Central differences along every coordinate of `theta`: `(outputs, theta)`."""
        fun = self.fun
        columns = fast_jit(
            lambda theta: jax.lax.map(lambda e: _fd(fun, theta, e), jnp.eye(theta.size))
        )
        return columns(self.theta).T

    @property
    def twin(self) -> _Case:
        """The case in float32: the plain one for bfloat16 (same params), else itself."""
        return _case(self.entry, "plain") if self.config == "bf16" else self


def _flat(tree: Any) -> jax.Array:
    return jnp.concatenate([jnp.ravel(leaf).astype(jnp.float32) for leaf in jax.tree.leaves(tree)])


def _stacked(results: list[Any]) -> Any:
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *results)


def _take(tree: Any, k: int) -> Any:
    return jax.tree.map(lambda leaf: leaf[k], tree)


def _normal(seed: int, like: Any) -> Any:
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda leaf: rng.normal(size=leaf.shape).astype(np.float32), like)


def _draw(structure: Any, seed: int) -> Any:
    """Params of `structure`'s shapes, uniform in [-0.6, 0.6] so that every term counts."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda leaf: jnp.asarray(rng.uniform(-0.6, 0.6, leaf.shape), jnp.float32), structure
    )


def _functional(fn: Callable[..., Any], options: dict[str, Any], noisy: bool) -> Run:
    def run(params, xs, steps, key):
        return fn(params, xs, **steps, **options, **({"key": key} if noisy else {}))

    return run


def _linen(options: dict[str, Any], noisy: bool, xs: jax.Array) -> tuple[Any, Run]:
    noise = {"deterministic": False} if noisy else {}
    model = jflax.LSTM(features=HIDDEN, return_state=True, **options, **noise)
    structure = jax.eval_shape(model.init, jax.random.key(0), xs)["params"]["lstm"]

    def run(params, xs, steps, key):
        rngs = {"dropout": key} if noisy else None
        ys, h, c = model.apply({"params": {"lstm": params}}, xs, **steps, rngs=rngs)
        return jlstm.LSTMState(h, c), ys

    return structure, run


def _nnx(options: dict[str, Any], noisy: bool) -> tuple[Any, Run]:
    model = jflax.NNXLSTM(INPUT, HIDDEN, return_state=True, rngs=nnx.Rngs(0), **options)
    graphdef, state = nnx.split(model)

    def run(params, xs, steps, key):
        module = nnx.merge(graphdef, state, copy=True)  # fresh variables in this trace
        module.load(params)
        ys, h, c = module(xs, **steps, **({"rngs": key} if noisy else {}))
        return jlstm.LSTMState(h, c), ys

    return model.params, run


def _scan_reference(dtype: Any) -> Run:
    cell = functools.partial(jlstm.lstm_cell, dtype=dtype)

    def run(params, xs, steps, key):
        state = jlstm.zero_state(params, xs.shape[:-2])
        return jlstm.scan(cell, params, xs, state, **steps)

    return run


def _entry(entry: str, config: str, xs: jax.Array) -> tuple[Any, Run]:
    """The params structure of `entry` (traced by `jax.eval_shape`) and its run in `config`."""
    options, noisy = OPTIONS.get(config, {}), config == "dropout"
    key = jax.random.key(0)
    if entry == "lstm":
        structure = jax.eval_shape(lambda: jlstm.init_lstm(key, INPUT, HIDDEN))
        return structure, _functional(jlstm.lstm, options, noisy)
    if entry == "bidirectional":
        layer = jax.eval_shape(lambda: jlstm.init_lstm(key, INPUT, HIDDEN))
        return jlstm.Bidirectional(layer, layer), _functional(jlstm.bidirectional, options, noisy)
    if entry == "stack":
        options = {**options, "dropout": RATE} if noisy else options
        structure = jax.eval_shape(lambda: jlstm.init_stack(key, INPUT, HIDDEN, num_layers=2))
        return structure, _functional(jlstm.stack, options, noisy)
    if entry == "linen":
        return _linen(options, noisy, xs)
    return _nnx(options, noisy)


@functools.cache
def _case(entry: str, config: str) -> _Case:
    xs = jnp.asarray(np.random.default_rng(1).normal(size=(BATCH, TIME, INPUT)), jnp.float32)
    structure, run = _entry(entry, config, xs)
    members = [_draw(structure, seed) for seed in range(3, 3 + MEMBERS)]
    one_layer = entry in ("lstm", "linen", "nnx") and config != "dropout"
    return _Case(
        entry=entry,
        config=config,
        run=run,
        reference=_scan_reference(OPTIONS.get(config, {}).get("dtype")) if one_layer else None,
        params=_draw(structure, 2),
        ensemble=_stacked(members),
        xs=xs,
        steps={name: jnp.asarray(value) for name, value in STEPS.get(config, {}).items()},
        key=jax.random.key(7),
        tol=BFLOAT16 if config == "bf16" else FLOAT32,
    )


def _close(name: str, actual: Any, desired: Any, rtol: float) -> None:
    """Same pytree structure and `max|actual - desired| <= rtol * max|desired|`."""
    assert jax.tree.structure(actual) == jax.tree.structure(desired), name
    actual, desired = np.asarray(_flat(actual)), np.asarray(_flat(desired))
    assert actual.shape == desired.shape, f"{name}: {actual.shape} != {desired.shape}"
    err = float(np.max(np.abs(actual - desired)))
    scale = float(np.max(np.abs(desired)))
    print(f"{name}: max abs error {err:.3g}, relative {err / scale:.3g}")
    assert err <= rtol * scale, f"{name}: max abs error {err:.3g} > {rtol:g} * {scale:.3g}"


def _fd(fun: Flat, theta: jax.Array, u: jax.Array) -> jax.Array:
    """Central finite difference of `fun` at `theta` along `u`, steps of length 1e-2."""
    eps = 1e-2 / jnp.linalg.norm(u)
    return (fun(theta + eps * u) - fun(theta - eps * u)) / (2 * eps)


def _check_tangent(case: _Case, u: jax.Array, tangent: jax.Array) -> None:
    """`tangent` is the derivative of the run at `case.theta` along `u`."""
    desired = _fd(case.twin.primal, case.theta, u)
    _close("tangent vs finite differences", tangent, desired, case.tol.fd)


def _check_cotangent(case: _Case, w: jax.Array, cotangent: jax.Array) -> None:
    """`cotangent` is the gradient of `<w, run>` at `case.theta`: the scan's, else differences."""
    if case.reference is None:
        desired = w @ case.twin.fd_jacobian
        _close("cotangent vs finite differences", cotangent, desired, case.tol.fd)
        return
    reference = case.flat(case.reference)
    desired = fast_jit(lambda theta: jax.vjp(reference, theta)[1](w)[0])(case.theta)
    _close("cotangent vs scan", cotangent, desired, case.tol.ad)


def _pull(result: tuple[jax.Array, Callable[[jax.Array], Any]], direction: jax.Array) -> Any:
    """`(primal, linear map)` of `jax.vjp` or `jax.linearize` to `(primal, map(direction))`."""
    primal, linear = result
    mapped = linear(direction)
    return primal, mapped[0] if isinstance(mapped, tuple) else mapped


def _jit(case: _Case) -> None:
    _close("jit vs eager", jax.jit(case.run)(*case.args), case.run(*case.args), case.tol.same)


def _grad(case: _Case) -> None:
    _, w = case.directions
    gradient = fast_jit(jax.grad(lambda theta: jnp.vdot(w, case.fun(theta))))
    _check_cotangent(case, w, gradient(case.theta))


def _vjp(case: _Case) -> None:
    _, w = case.directions
    primal, cotangent = fast_jit(lambda theta: _pull(jax.vjp(case.fun, theta), w))(case.theta)
    _close("vjp primal vs call", primal, case.primal(case.theta), case.tol.same)
    _check_cotangent(case, w, cotangent)


def _jvp(case: _Case) -> None:
    u, _ = case.directions
    primal, tangent = fast_jit(lambda theta: jax.jvp(case.fun, (theta,), (u,)))(case.theta)
    _close("jvp primal vs call", primal, case.primal(case.theta), case.tol.same)
    _check_tangent(case, u, tangent)


def _linearize(case: _Case) -> None:
    u, _ = case.directions
    primal, tangent = fast_jit(lambda theta: _pull(jax.linearize(case.fun, theta), u))(case.theta)
    _close("linearize primal vs call", primal, case.primal(case.theta), case.tol.same)
    _check_tangent(case, u, tangent)


def _jacobians(case: _Case) -> tuple[jax.Array, jax.Array]:
    """`jax.jacfwd` and `jax.jacrev` of the run, in one program: each is the other's oracle."""
    fun = case.fun
    jacobians = fast_jit(lambda theta: (jax.jacfwd(fun)(theta), jax.jacrev(fun)(theta)))(case.theta)
    _close("jacfwd vs jacrev", *jacobians, case.tol.ad)
    return jacobians


def _jacfwd(case: _Case) -> None:
    u, _ = case.directions
    _check_tangent(case, u, _jacobians(case)[0] @ u)


def _jacrev(case: _Case) -> None:
    _, w = case.directions
    _check_cotangent(case, w, w @ _jacobians(case)[1])


def _input_loss(case: _Case, run: Run) -> Callable[[jax.Array], jax.Array]:
    """`<w, run(xs)>`: a scalar of the inputs alone, small enough for a whole Hessian."""
    _, w = case.directions
    return lambda xs: jnp.vdot(w, _flat(run(case.params, xs, case.steps, case.key)))


def _hessian(case: _Case) -> None:
    size, v = case.xs.size, _normal(10, case.xs).ravel()
    hessian = fast_jit(jax.hessian(_input_loss(case, case.run)))(case.xs).reshape(size, size)
    _close("hessian vs its transpose", hessian, hessian.T, case.tol.ad)
    gradient = jax.grad(_input_loss(case, case.twin.run))
    flat_gradient = fast_jit(lambda xs: jnp.ravel(gradient(xs.reshape(case.xs.shape))))
    desired = _fd(flat_gradient, case.xs.ravel(), v)
    _close("hessian @ v vs differences of grad", hessian @ v, desired, case.tol.fd)


def _vmap_batch(case: _Case) -> None:
    params, xs, steps, key = case.args
    mapped = fast_jit(jax.vmap(case.run, in_axes=(None, 0, 0, None)))(params, xs, steps, key)
    one = fast_jit(case.run)  # one example: no batch axis
    loop = [one(params, xs[b], _take(steps, b), key) for b in range(BATCH)]
    _close("vmap over the batch vs loop", mapped, _stacked(loop), case.tol.same)


def _vmap_params(case: _Case) -> None:
    _, xs, steps, key = case.args
    mapped = fast_jit(jax.vmap(case.run, in_axes=(0, None, None, None)))(
        case.ensemble, xs, steps, key
    )
    loop = [case.compiled(_take(case.ensemble, k), xs, steps, key) for k in range(MEMBERS)]
    _close("vmap over params vs loop", mapped, _stacked(loop), case.tol.same)


def _vmap_keys(case: _Case) -> None:
    params, xs, steps, _ = case.args
    keys = jax.random.split(case.key, MEMBERS)
    mapped = fast_jit(jax.vmap(case.run, in_axes=(None, None, None, 0)))(params, xs, steps, keys)
    loop = [case.compiled(params, xs, steps, key) for key in keys]
    _close("vmap over keys vs loop", mapped, _stacked(loop), case.tol.same)
    assert not np.allclose(_flat(loop[0]), _flat(loop[1])), "two keys drew the same masks"


def _checkpoint(case: _Case) -> None:
    _, w = case.directions

    def loss(theta):
        return jnp.vdot(w, case.fun(theta))

    remat = fast_jit(jax.grad(jax.checkpoint(loss)))(case.theta)
    _close("grad of checkpoint vs grad", remat, fast_jit(jax.grad(loss))(case.theta), case.tol.same)


def _eval_shape(case: _Case) -> None:
    abstract = jax.eval_shape(case.run, *case.args)
    actual = case.compiled(*case.args)
    assert jax.tree.structure(abstract) == jax.tree.structure(actual)
    for a, b in zip(jax.tree.leaves(abstract), jax.tree.leaves(actual), strict=True):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)


CHECKS: dict[str, Callable[[_Case], None]] = {
    "jit": _jit,
    "grad": _grad,
    "vjp": _vjp,
    "jvp": _jvp,
    "jacfwd": _jacfwd,
    "jacrev": _jacrev,
    "hessian": _hessian,
    "linearize": _linearize,
    "vmap_batch": _vmap_batch,
    "vmap_params": _vmap_params,
    "vmap_keys": _vmap_keys,
    "checkpoint": _checkpoint,
    "eval_shape": _eval_shape,
}


def test_triples_cover_every_pair_that_runs():
    assert len(set(TRIPLES)) == len(TRIPLES) and set(CHECKS) == set(TRANSFORMS)
    every = set().union(*map(_pairs, itertools.product(ENTRIES, CONFIGS, TRANSFORMS)))
    covered = set().union(*map(_pairs, TRIPLES))
    left_out = {(config, "vmap_keys") for config in ("plain", "lengths", "mask", "bf16")}
    assert every - covered == left_out == UNSUPPORTED


@pytest.mark.parametrize(
    "entry, config, transform", TRIPLES, ids=["-".join(triple) for triple in TRIPLES]
)
def test_transform(entry, config, transform):
    CHECKS[transform](_case(entry, config))
