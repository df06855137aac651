"""shard_map, Auto and Explicit meshes and jax.export with symbolic dims, on 4 host devices."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

# One subprocess that starts JAX on 4 devices and compiles some twenty programs.
pytestmark = pytest.mark.slow

WORKER = pathlib.Path(__file__).parent / "support" / "sharding_worker.py"


@pytest.fixture(scope="module")
def results():
    # The device count is fixed when JAX starts, so the cases run in a process of their own.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    done = subprocess.run(
        [sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CASES = [
    *(f"shard_map lstm {name}" for name in ("lengths", "bf16", "reverse")),
    *(f"shard_map bidirectional {name}" for name in ("lengths", "remat")),
    "shard_map stack mask",
    *(
        f"Explicit mesh lstm {name}"
        for name in ("plain", "lengths", "remat", "reverse remat", "replicated state")
    ),
    "Auto mesh lstm lengths",
    "export lstm plain",
    "export lstm mask",
]


@pytest.mark.parametrize("name", CASES)
def test_equals_one_device(results, name):
    # Forward values and gradients (inputs and, where given, the initial state).
    print(f"{name}: max relative error {results[name]:.1e}")
    assert results[name] <= 1e-6
