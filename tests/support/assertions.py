"""Comparison helpers: tolerances, pytree equality, finiteness and the equations of programs."""

import jax
import numpy as np


def check(name, actual, desired, tol, *, relative=False):
    """Assert `max|actual - desired| <= tol` (times `max|desired|` if relative) and print it."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, f"{name}: {actual.shape} != {desired.shape}"
    err = float(np.max(np.abs(actual - desired))) if actual.size else 0.0
    scale = float(np.max(np.abs(desired))) if relative else 1.0
    print(f"{name}: max abs err {err:.2e}" + (f" (relative {err / scale:.2e})" if relative else ""))
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} > {tol * scale:.3g}"


def assert_same_tree(actual, desired):
    """Bit-identical leaves (dtype included) and the same pytree structure."""
    assert jax.tree.structure(actual) == jax.tree.structure(desired)
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
        assert a.dtype == d.dtype
        np.testing.assert_array_equal(a, d)


def assert_trees_close(actual, desired, atol=1e-6, rtol=0.0):
    """The same pytree structure and leaves within `atol + rtol * |desired|`."""
    assert jax.tree.structure(actual) == jax.tree.structure(desired)
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
        np.testing.assert_allclose(a, d, rtol=rtol, atol=atol)


def ulp_close(actual, desired):
    """A few ULP apart: another loop body may let XLA fuse multiply-adds differently."""
    assert_trees_close(actual, desired, atol=1e-7, rtol=1e-6)


def all_finite(tree) -> bool:
    """Whether every element of every leaf is finite."""
    return all(bool(np.isfinite(np.asarray(leaf)).all()) for leaf in jax.tree.leaves(tree))


def _sub_jaxprs(eqn):
    for value in eqn.params.values():
        for sub in value if isinstance(value, tuple | list) else [value]:
            inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds a Jaxpr
            if hasattr(inner, "eqns"):
                yield inner


def loop_bodies(closed_jaxpr):
    """The body jaxprs of every `lax.scan` in a program, outermost first, nested included."""
    bodies = []

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "scan":
                bodies.append(eqn.params["jaxpr"].jaxpr)
            for inner in _sub_jaxprs(eqn):
                visit(inner)

    visit(getattr(closed_jaxpr, "jaxpr", closed_jaxpr))
    return bodies


def equations(jaxpr, *, into_loops=True):
    """Every equation of a (closed) jaxpr and of the jaxprs nested in it (calls, custom rules).

    With `into_loops=False`, the bodies of `lax.scan` loops are left out.
    """
    found = []

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            found.append(eqn)
            if into_loops or eqn.primitive.name != "scan":
                for inner in _sub_jaxprs(eqn):
                    visit(inner)

    visit(getattr(jaxpr, "jaxpr", jaxpr))
    return found
