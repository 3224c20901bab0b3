"""Profile choice and context fitting: pure decisions with their inputs passed in."""

from __future__ import annotations

import pytest

from dreamflow_cli.backend.seam import fit_max_tokens, MIN_STORY_TOKENS
from dreamflow_cli.settings.profiles import MemoryMode, choose_profile, Profile
from dreamflow_cli.errors import ConfigError, UsageError


def test_the_guides_two_profiles_on_a_four_core_machine():
    assert choose_profile(MemoryMode.STANDARD, cores=4) == Profile("standard", 1024, 256, 4, 256, repack=True)
    assert choose_profile(MemoryMode.LOW_MEMORY, cores=4) == Profile("low-memory", 512, 128, 2, 128, repack=False)


@pytest.mark.parametrize("cores, standard, low", [(1, 1, 1), (2, 2, 2), (3, 3, 2), (16, 4, 2)])
def test_threads_never_exceed_the_cores(cores, standard, low):
    assert choose_profile(MemoryMode.STANDARD, cores).n_threads == standard
    assert choose_profile(MemoryMode.LOW_MEMORY, cores).n_threads == low


def test_config_table_then_flags_override_single_values():
    configured = {"low_memory": {"n_ctx": 384, "repack": True}, "standard": {"n_ctx": 2048}}
    low = choose_profile(MemoryMode.LOW_MEMORY, 8, configured)
    assert (low.n_ctx, low.n_batch, low.repack) == (384, 128, True)
    low = choose_profile(MemoryMode.LOW_MEMORY, 8, configured, {"n_ctx": 256, "max_tokens": 100})
    assert (low.n_ctx, low.max_tokens, low.n_batch) == (256, 100, 128)
    assert choose_profile(MemoryMode.STANDARD, 8, configured).n_ctx == 2048


def test_too_small_values_are_refused_with_the_minimum():
    with pytest.raises(ConfigError, match="n_ctx 64"):
        choose_profile(MemoryMode.STANDARD, 4, flags={"n_ctx": 64})
    with pytest.raises(ConfigError, match="max_tokens 8"):
        choose_profile(MemoryMode.STANDARD, 4, flags={"max_tokens": 8})


def test_story_budget_fits_the_context():
    assert fit_max_tokens(prompt_tokens=100, max_tokens=256, n_ctx=1024) == 256
    assert fit_max_tokens(prompt_tokens=400, max_tokens=256, n_ctx=512) == 112
    assert fit_max_tokens(prompt_tokens=512 - MIN_STORY_TOKENS, max_tokens=128, n_ctx=512) == MIN_STORY_TOKENS
    with pytest.raises(UsageError, match="no room for a story"):
        fit_max_tokens(prompt_tokens=500, max_tokens=128, n_ctx=512)
