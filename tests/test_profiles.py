"""profiles.py: the one home of the memory profiles. A third profile is one register() call."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.load import load_settings, starter_config
from dreamflow_cli.errors import ConfigError, NotEnoughMemoryError
from dreamflow_cli.plan.estimate import MemoryEstimate, ModelShape, estimate_profiles
from dreamflow_cli.plan import preflight
from dreamflow_cli.plan.preflight import decide
from dreamflow_cli.settings.profiles import MemoryMode, ProfileName, ProfileSpec

MB = 1_000_000
SHAPE = ModelShape(n_layer=30, n_embd=576, n_head=9, n_head_kv=3, n_vocab=49152, n_ff=1536)


def test_the_built_in_profiles_in_order_of_preference():
    assert profiles.names() == (ProfileName.STANDARD, ProfileName.LOW_MEMORY)
    assert profiles.tables() == ("standard", "low_memory")
    assert preflight.smallest() == "low-memory"
    standard, low = profiles.build_all(cores=2)
    assert (standard.name, standard.n_ctx, standard.n_threads, standard.repack) == ("standard", 1024, 2, True)
    assert (low.name, low.n_ctx, low.max_tokens, low.repack) == ("low-memory", 512, 128, False)
    assert profiles.build("standard", 8, {"standard": {"n_threads": 16}}).threads_capped_from == 16
    with pytest.raises(ConfigError, match="n_ctx 64 is too small"):
        profiles.build("standard", 2, flags={"n_ctx": 64})


@pytest.mark.parametrize("value, mode", [(True, MemoryMode.LOW_MEMORY), (False, MemoryMode.STANDARD),
                                         ("auto", MemoryMode.AUTO), ("low_memory", MemoryMode.LOW_MEMORY),
                                         (MemoryMode.STANDARD, MemoryMode.STANDARD)])
def test_memory_mode_has_one_spelling(value, mode):
    assert MemoryMode.of(value) is mode
    assert mode.profile == (None if mode is MemoryMode.AUTO else mode.value)
    assert str(mode) == mode.value


def test_advice_names_the_way_to_pick_a_profile():
    assert preflight.how_to_use("low-memory") == "use the low-memory profile: --low-memory, or low_memory = true in the config"
    assert "--low-memory" in preflight.memory_advice("standard")
    assert "--low-memory" not in preflight.memory_advice("low-memory")  # it is what did not fit


@pytest.fixture
def tiny():
    """A third profile, registered the way a new one would be in profiles.py, then removed."""
    saved = dict(profiles.PROFILES)
    spec = profiles.register(ProfileSpec("tiny", {"n_ctx": 256, "n_batch": 64, "n_threads": 1,
                                                  "max_tokens": 64, "repack": False},
                                         "tiny = its [profile.tiny] table in the config"))
    yield spec
    profiles.PROFILES.clear()
    profiles.PROFILES.update(saved)


def test_a_third_profile_is_one_register_call(tiny, isolated):
    # Every consumer sees it: the config file's tables, config init, building, estimating, choosing.
    Path("dreamflow.toml").write_text("[profile.tiny]\nn_ctx = 384\n")
    settings = load_settings(env={})
    assert dict(settings.profile_config["tiny"]) == {"n_ctx": 384}
    built = profiles.build_all(2, settings.profile_config)
    assert [p.name for p in built] == ["standard", "low-memory", "tiny"] and built[-1].n_ctx == 384
    starter = tomllib.loads(tomli_w.dumps(starter_config(lambda table: profiles.default_values(table, 2))))
    assert starter["profile"]["tiny"]["max_tokens"] == 64

    estimates = estimate_profiles(SHAPE, 98 * MB, built)
    assert list(estimates) == ["standard", "low-memory", "tiny"]
    assert estimates["tiny"].total < estimates["low-memory"].total
    assert preflight.smallest() == "tiny"
    # Too little room for low-memory's need: auto falls to the new, smaller profile.
    between = (estimates["tiny"].total + estimates["low-memory"].total) // 2
    decision = decide(MemoryMode.AUTO, estimates, between, headroom=0)
    assert (decision.profile, decision.fits) == ("tiny", True)
    assert "tiny recommended" in decision.reason
    with pytest.raises(NotEnoughMemoryError) as err:
        decide(MemoryMode.AUTO, estimates, estimates["tiny"].total - 1, headroom=0)
    assert "tiny profile needs" in err.value.message
    assert "--low-memory" not in err.value.hint  # the smallest profile is what did not fit


def test_auto_prefers_the_most_generous_profile_that_fits_with_headroom():
    est = {"standard": MemoryEstimate("standard", 1400 * MB, 0, 0, 0, 0),
           "low-memory": MemoryEstimate("low-memory", 700 * MB, 0, 0, 0, 0)}
    assert preflight.recommend(est, 4000 * MB).profile == "standard"
    assert preflight.recommend(est, 3000 * MB).profile == "low-memory"
    assert "tight" in preflight.recommend(est, 800 * MB).reason
    assert preflight.recommend(est, 600 * MB).profile is None
