import os
from collections.abc import Iterator

import jax
import pytest

# jlstm must work for users who forbid implicit rank promotion.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64() -> Iterator[None]:
    """float64 for gradient checks; elsewhere tests use float32."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the JAX backend, or a skip where it is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.fixture(scope="session")
def torch():
    """PyTorch, or a skip where it is not installed (imported only by tests that need it)."""
    return pytest.importorskip("torch")
