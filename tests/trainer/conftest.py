"""Fixtures of the trainer tests."""

import pytest
import torch


@pytest.fixture
def float64():
    """Compute in float64, so that two ways of computing the same update agree to 1e-12."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
