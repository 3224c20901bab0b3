"""How many stories a batch writes at once, and the memory that costs (pure decisions)."""

from __future__ import annotations

import pytest

from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.plan.parallelism import choose_parallel, kv_multiplier, parallel_estimate
from dreamflow_cli.settings.keys import AUTO
from dreamflow_cli.settings.table import KEY_BY_NAME

# SmolLM2 at the standard profile, roughly: 98 MB weights (+ repack copy), 24 MB KV per story.
SMOL = MemoryEstimate("standard", 98_000_000, 98_000_000, 24_000_000, 30_000_000, 95_000_000)
GB = 1_000_000_000


def test_each_story_in_flight_adds_one_kv_cache_and_nothing_else():
    assert [kv_multiplier(n) for n in (1, 2, 4)] == [1, 2, 4]
    assert kv_multiplier(0) == 1
    four = parallel_estimate(SMOL, 4)
    assert four.kv_cache == 4 * SMOL.kv_cache
    assert four.total - SMOL.total == 3 * SMOL.kv_cache
    assert (four.weights, four.repack_copy, four.compute, four.overhead) == \
        (SMOL.weights, SMOL.repack_copy, SMOL.compute, SMOL.overhead)


def test_auto_takes_four_when_memory_allows_and_says_why():
    choice = choose_parallel(AUTO, stories=20, profile="standard", single=SMOL, available=8 * GB)
    assert choice.stories == 4
    assert choice.reason.startswith("4 stories at a time (auto, at most 4 in the standard profile")
    assert "each adds ~24 MB of KV cache" in choice.reason
    assert choice.as_dict() == {"parallel": 4, "requested": AUTO, "reason": choice.reason}


def test_auto_keeps_low_memory_small():
    assert choose_parallel(AUTO, stories=20, profile="low-memory", single=SMOL, available=8 * GB).stories == 2


def test_auto_never_takes_more_slots_than_stories():
    choice = choose_parallel(AUTO, stories=3, profile="standard", single=SMOL, available=8 * GB)
    assert choice.stories == 3 and "3 stories to write" in choice.reason


def test_auto_lowers_the_count_to_keep_headroom():
    # 2.35 GB available and 2 GB headroom: 3 stories fit (~392 MB), 4 (~416 MB) do not.
    choice = choose_parallel(AUTO, stories=20, profile="standard", single=SMOL, available=2_400_000_000)
    assert choice.stories == 3
    assert "4 would need ~417 MB + headroom, 2.4 GB available" in choice.reason
    assert choose_parallel(AUTO, stories=20, profile="standard", single=SMOL, available=GB).stories == 1


def test_a_requested_count_is_kept_unless_it_cannot_fit():
    assert choose_parallel(8, stories=20, profile="low-memory", single=SMOL, available=8 * GB).stories == 8
    tight = choose_parallel(8, stories=20, profile="standard", single=SMOL, available=400_000_000)
    assert tight.stories == 3 and "8 requested; 8 would need ~513 MB, 400 MB available" in tight.reason


def test_unset_means_one_at_a_time_and_an_unknown_shape_stays_careful():
    assert choose_parallel(None, stories=20, profile="standard", single=SMOL, available=8 * GB).stories == 1
    assert choose_parallel(AUTO, stories=20, profile="standard", single=None, available=8 * GB).stories == 1
    asked = choose_parallel(3, stories=20, profile="standard", single=None, available=8 * GB)
    assert asked.stories == 3 and "memory cannot be estimated" in asked.reason


@pytest.mark.parametrize("raw, parsed", [("auto", AUTO), (" AUTO ", AUTO), ("4", 4), (1, 1), (64, 64)])
def test_the_parallel_setting_accepts_counts_and_auto(raw, parsed):
    assert KEY_BY_NAME["parallel"].coerce(raw, "--parallel") == parsed


@pytest.mark.parametrize("raw", ["0", 0, 65, "many", "-2", True, 2.5])
def test_the_parallel_setting_names_what_it_accepts(raw):
    with pytest.raises(ConfigError) as err:
        KEY_BY_NAME["parallel"].coerce(raw, "--parallel")
    assert "an integer from 1 to 64 or auto" in err.value.hint
