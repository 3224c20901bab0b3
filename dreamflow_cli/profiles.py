"""The memory profiles: their names, their values, the choice between them, and the advice.

Every other module asks here. The registry ``PROFILES`` lists the profiles in order of preference
(the most generous first); the config file's ``[profile.*]`` tables, `config init`, the memory
preflight, `doctor` and `download-model --list` all iterate it, so a new profile is one
``register(...)`` line in this file.

Pure: numbers and names in, decisions out. Nothing here loads a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, Mapping, NamedTuple, Protocol

from dreamflow_cli.backend import MIN_STORY_TOKENS
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.threads import cap_threads
from dreamflow_cli.units import human_bytes

# The settings a profile holds; config tables and flags may set each one.
VALUE_KEYS = ("n_ctx", "n_batch", "n_threads", "max_tokens", "repack")
MIN_CTX = 128
# Free memory to keep for the rest of the machine (browser, desktop) when choosing automatically.
DEFAULT_HEADROOM_BYTES = 2_000_000_000


class ProfileName(str, Enum):
    """The built-in profiles, as people, flags and story.json spell them."""

    STANDARD = "standard"
    LOW_MEMORY = "low-memory"

    def __str__(self) -> str:
        return self.value


class MemoryMode(str, Enum):
    """What the user asked for (the ``low_memory`` setting: true, false or auto)."""

    AUTO = "auto"
    STANDARD = "standard"
    LOW_MEMORY = "low-memory"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, value: bool | str | MemoryMode) -> MemoryMode:
        """From the setting's spellings: True = low-memory, False = standard, or a mode word."""
        if isinstance(value, cls):
            return value
        if value is True:
            return cls.LOW_MEMORY
        if value is False:
            return cls.STANDARD
        return cls(str(value).replace("_", "-"))

    @property
    def profile(self) -> str | None:
        """The profile this mode forces; None for auto (the choice decides)."""
        return None if self is MemoryMode.AUTO else self.value


@dataclass(frozen=True)
class ProfileSpec:
    """One profile in the registry."""

    name: str  # as people and story.json see it: "low-memory"
    values: Mapping[str, int | bool]  # the memory guide's values; n_threads is a cap
    how: str  # how a user picks it, for advice: "--low-memory, or low_memory = true in the config"
    auto_parallel: int = 1  # `--parallel auto`: stories at once at most (each holds its own KV cache)

    @property
    def table(self) -> str:
        """Its config-file table: [profile.low_memory]."""
        return self.name.replace("-", "_")


# n_threads is a cap: the machine may have fewer cores. repack: llama.cpp's CPU weight repacking
# (`use_extra_bufts`) is faster but keeps a second copy of the weights; low-memory trades ~10%
# speed for roughly half the peak RSS.
PROFILES: dict[str, ProfileSpec] = {}


def register(spec: ProfileSpec) -> ProfileSpec:
    """Add a profile (after the ones before it in preference)."""
    PROFILES[spec.name] = spec
    return spec


register(ProfileSpec(ProfileName.STANDARD.value,
                     {"n_ctx": 1024, "n_batch": 256, "n_threads": 4, "max_tokens": 256, "repack": True},
                     "--standard, or low_memory = false in the config", auto_parallel=4))
register(ProfileSpec(ProfileName.LOW_MEMORY.value,
                     {"n_ctx": 512, "n_batch": 128, "n_threads": 2, "max_tokens": 128, "repack": False},
                     "--low-memory, or low_memory = true in the config", auto_parallel=2))


def names() -> tuple[str, ...]:
    return tuple(PROFILES)


def tables() -> tuple[str, ...]:
    return tuple(spec.table for spec in PROFILES.values())


def by_table(table: str) -> ProfileSpec | None:
    return next((spec for spec in PROFILES.values() if spec.table == table), None)


def defaults_by_table() -> dict[str, Mapping[str, int | bool]]:
    """{"standard": {...}, "low_memory": {...}}: the values keyed as the config file writes them."""
    return {spec.table: spec.values for spec in PROFILES.values()}


@dataclass(frozen=True)
class Profile:
    """The values a story runs with: a profile's defaults < its config table < flags."""

    name: str  # a registered profile name, e.g. "low-memory"
    n_ctx: int
    n_batch: int
    n_threads: int
    max_tokens: int
    repack: bool = True
    use_mmap: bool = True
    use_mlock: bool = False
    threads_capped_from: int | None = None  # the n_threads asked for, when more than the cores

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_values(name: str, cores: int) -> dict[str, int | bool]:
    """A profile's guide values with threads capped by ``cores``; ``name`` may be its table name."""
    spec = PROFILES.get(name) or by_table(name)
    if spec is None:
        raise KeyError(f"no profile called {name!r}")
    values = dict(spec.values)
    values["n_threads"] = cap_threads(int(values["n_threads"]), cores)
    return values


def build(name: str, cores: int, configured: Mapping[str, Mapping[str, int | bool]] | None = None,
          flags: Mapping[str, int | bool] | None = None) -> Profile:
    """Guide defaults (threads capped by ``cores``) < the config table for the profile < flags."""
    spec = PROFILES[name]
    values: dict[str, Any] = dict(default_values(name, cores))
    values.update((configured or {}).get(spec.table, {}))
    values.update(flags or {})
    asked = int(values["n_threads"])
    values["n_threads"] = cap_threads(asked, cores)
    if values["n_threads"] != asked:
        values["threads_capped_from"] = asked
    if values["n_ctx"] < MIN_CTX:
        raise ConfigError(f"n_ctx {values['n_ctx']} is too small", f"use at least {MIN_CTX}")
    if values["max_tokens"] < MIN_STORY_TOKENS:
        raise ConfigError(f"max_tokens {values['max_tokens']} is too small for a story",
                          f"use at least {MIN_STORY_TOKENS}")
    return Profile(name=spec.name, **values)


def build_all(cores: int, configured: Mapping[str, Mapping[str, int | bool]] | None = None,
              flags: Mapping[str, int | bool] | None = None) -> list[Profile]:
    """Every registered profile, in order of preference."""
    return [build(name, cores, configured, flags) for name in PROFILES]


def choose_profile(low_memory: bool | str | MemoryMode, cores: int,
                   configured: Mapping[str, Mapping[str, int | bool]] | None = None,
                   flags: Mapping[str, int | bool] | None = None) -> Profile:
    """The profile a mode forces (auto: the most generous, which a run starts from)."""
    return build(MemoryMode.of(low_memory).profile or names()[0], cores, configured, flags)


# --- the choice ------------------------------------------------------------------------------

class Sized(Protocol):
    @property
    def total(self) -> int: ...


class Recommendation(NamedTuple):
    profile: str | None  # None: not even the smallest profile fits
    reason: str


def recommend(estimates: Mapping[str, Sized], available_bytes: int,
              headroom: int = DEFAULT_HEADROOM_BYTES) -> Recommendation:
    """The one automatic choice: the first profile (in the mapping's order of preference) that
    fits with ``headroom`` to spare; else the smallest one if it fits at all; else None."""
    if not estimates:
        raise ValueError("no profiles to choose from")
    have = human_bytes(available_bytes)
    spare = human_bytes(headroom)
    first_name, first = next(iter(estimates.items()))
    for name, est in estimates.items():
        if est.total + headroom <= available_bytes:
            if name == first_name:
                return Recommendation(name, f"{name} fits: {have} available, {name} needs "
                                            f"~{human_bytes(est.total)} + {spare} headroom")
            return Recommendation(name, f"{name} recommended: {have} available, {first_name} needs "
                                        f"~{human_bytes(first.total)} + {spare} headroom")
    name, smallest = min(estimates.items(), key=lambda item: item[1].total)
    if smallest.total <= available_bytes:
        return Recommendation(name, f"{name} recommended, but tight: {have} available, {name} needs "
                                    f"~{human_bytes(smallest.total)}, leaving less than {spare} for "
                                    f"everything else; close other programs first")
    return Recommendation(None, f"not enough memory: {have} available, the smallest profile "
                                f"({name}) needs ~{human_bytes(smallest.total)}")


def smallest() -> str:
    """The last resort of an automatic choice: the least generous profile."""
    return names()[-1]


# --- the advice ------------------------------------------------------------------------------

# The memory guide's advice, for every out-of-memory ending.
MEMORY_ADVICE = ("close other applications, use --low-memory, or pick a smaller model "
                 "(dreamflow download-model --list)")
# When the smallest profile is what did not fit, suggesting it would send the user in a circle.
SMALLEST_ADVICE = "close other applications, or pick a smaller model (dreamflow download-model --list)"


def memory_advice(profile: str) -> str:
    """What to do when ``profile`` does not fit."""
    return SMALLEST_ADVICE if profile == smallest() else MEMORY_ADVICE


def how_to_use(profile: str) -> str:
    """ "use the low-memory profile: --low-memory, or low_memory = true in the config" """
    return f"use the {profile} profile: {PROFILES[profile].how}"
