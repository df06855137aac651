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
