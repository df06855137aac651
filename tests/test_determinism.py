"""Jitted forward and gradients are bit-identical across runs and across processes."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]
DIGEST = """
import hashlib, jax, jax.numpy as jnp, numpy as np, jlstm
params = jlstm.init_stack(jax.random.key(0), 5, 8, num_layers=1, bidirectional=True)
xs = jnp.asarray(np.random.default_rng(1).standard_normal((4, 30, 5)).astype(np.float32))
lengths = jnp.array([30, 12, 1, 29])
def loss(params, xs):
    states, ys = jlstm.stack(params, xs, lengths=lengths)
    _, plain = jlstm.lstm(params[0].forward, xs)
    return jnp.sum(ys ** 2) + jnp.sum(plain ** 3), (states, ys, plain)
grad = jax.jit(jax.grad(loss, (0, 1), has_aux=True))
def digest():
    hashed = hashlib.sha256()
    for leaf in jax.tree.leaves(grad(params, xs)):  # gradients, final states and outputs
        hashed.update(np.asarray(leaf).tobytes())
    return hashed.hexdigest()
if __name__ == "__main__":
    print(digest())
"""


@pytest.mark.slow
def test_forward_and_gradients_are_bit_identical_across_runs_and_processes():
    namespace = {"__name__": "in_process"}
    exec(DIGEST, namespace)
    runs = [namespace["digest"]() for _ in range(3)]
    fresh = subprocess.run(
        [sys.executable, "-c", DIGEST], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert runs[0] == runs[1] == runs[2] == fresh.stdout.strip()
