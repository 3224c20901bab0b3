"""The memory profiles: their names and values, and how a run's values are built from them.

The registry ``PROFILES`` lists the profiles in order of preference (the most generous first);
the config file's ``[profile.*]`` tables, `config init`, the memory preflight, `doctor` and
`download-model --list` all iterate it, so a new profile selectable by name is one
``register(ProfileSpec(...))`` call. Which profile a run gets is decided in plan/preflight.py.

Pure: numbers and names in, values out. Nothing here loads a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, Mapping

from dreamflow_cli.errors import ConfigError

# The settings a profile holds; config tables and flags may set each one.
VALUE_KEYS = ("n_ctx", "n_batch", "n_threads", "max_tokens", "repack")
MIN_CTX = 128
# Leave room for at least a short story after the prompt; a budget below this is refused.
MIN_STORY_TOKENS = 32


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


def cap_threads(requested: int, cores: int) -> int:
    """Never more llama.cpp threads than cores, whoever asked: extra threads only contend
    (--threads 10000 spawned 10,000 threads and never finished; issue 13)."""
    return max(1, min(int(requested), cores))


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


def choose_profile(mode: MemoryMode, cores: int,
                   configured: Mapping[str, Mapping[str, int | bool]] | None = None,
                   flags: Mapping[str, int | bool] | None = None) -> Profile:
    """The profile a mode forces (auto: the most generous, which a run starts from)."""
    return build(mode.profile or names()[0], cores, configured, flags)
