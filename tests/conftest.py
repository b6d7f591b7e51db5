"""Shared fixtures. The corpus is downloaded once into the kit's cache and reused by every test."""

import pytest
import torch


@pytest.fixture(scope="session")
def corpus():
    from tinychinchilla.data import load_corpus

    return load_corpus()


@pytest.fixture(autouse=True)
def _single_thread_safe_seed():
    torch.manual_seed(0)
    yield
