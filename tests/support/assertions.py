"""Comparison helpers shared by the parity tests."""

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


def loop_bodies(closed_jaxpr):
    """The body jaxprs of every `lax.scan` in a program, outermost first, nested included."""
    bodies = []

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "scan":
                bodies.append(eqn.params["jaxpr"].jaxpr)
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns"):
                    visit(inner)

    visit(closed_jaxpr.jaxpr)
    return bodies
