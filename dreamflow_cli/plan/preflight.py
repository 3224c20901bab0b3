"""Before loading: will the model fit, and which profile should it run with? And the advice
every out-of-memory ending gives.

Pure decisions over readings passed in (the estimates and the available memory), so every
branch is testable without a machine that is actually short of memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Protocol

from dreamflow_cli.errors import NotEnoughMemoryError
from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.profiles import MemoryMode
from dreamflow_cli.units import human_bytes

# Free memory to keep for the rest of the machine (browser, desktop) when choosing automatically.
DEFAULT_HEADROOM_BYTES = 2_000_000_000


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
    return profiles.names()[-1]


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
    return f"use the {profile} profile: {profiles.PROFILES[profile].how}"


def preflight_advice(profile: str) -> str:
    """memory_advice, plus the way past the check."""
    return memory_advice(profile) + "; --no-memory-check loads anyway"


@dataclass(frozen=True)
class MediaNeed:
    """What a story's media (narration, video, …) add to the memory while they are made: they run
    one at a time, so the largest of them; and, in a batch, the profiles in which they run while
    the model is still loaded (in the others the model is closed first)."""

    peak: int = 0
    what: str = ""  # for messages: "video needs ~180 MB"
    hint: str = ""  # how to need less: "--video-quality fast, fewer --scenes, or --no-video"
    beside: frozenset[str] = frozenset()

    def with_model(self, profile: str, model: int) -> int:
        """The run's peak with the model's ``model`` bytes under ``profile``."""
        return model + self.peak if profile in self.beside else max(model, self.peak)


NO_MEDIA = MediaNeed()


@dataclass(frozen=True)
class _Need:
    total: int


@dataclass(frozen=True)
class MemoryDecision:
    mode: str  # "auto", "standard" or "low-memory": what was asked for
    profile: str  # what will run
    reason: str
    available: int
    needed: int  # the estimate for the chosen profile, media included
    checked: bool
    fits: bool
    media: int = 0  # the story's media at their peak (part of ``needed`` as the profile runs them)

    @property
    def low_memory(self) -> bool:
        return self.profile == profiles.ProfileName.LOW_MEMORY

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "profile": self.profile, "reason": self.reason,
                "available_bytes": self.available, "estimated_bytes": self.needed, "media_bytes": self.media,
                "checked": self.checked, "fits": self.fits}


def decide(mode: MemoryMode, estimates: Mapping[str, MemoryEstimate], available: int, *,
           check: bool = True, headroom: int = DEFAULT_HEADROOM_BYTES, media: MediaNeed = NO_MEDIA) -> MemoryDecision:
    """``estimates`` holds every profile, in order of preference. Auto takes recommend's choice
    (the smallest profile when none fits); any choice that does not fit at all is refused
    (NotEnoughMemoryError, exit 4) unless ``check`` is off. ``media``: what the story's media
    add, counted with the model as the profile runs them (beside it, or after it)."""
    needs = {name: _Need(media.with_model(name, estimates[name].total)) for name in profiles.names()}
    if mode.profile is None:
        rec = recommend(needs, available, headroom)
        profile, reason = rec.profile or smallest(), rec.reason
    else:
        profile = mode.profile
        reason = f"{profile} profile chosen; it needs ~{human_bytes(needs[profile].total)}, " \
                 f"{human_bytes(available)} available"
    needed, model = needs[profile].total, estimates[profile].total
    fits = needed <= available
    if not fits and check:
        raise _refusal(profile, model, media, available)
    if not fits:
        reason = f"{profile} profile needs ~{human_bytes(needed)} but only {human_bytes(available)} is " \
                 f"available; loading anyway (--no-memory-check)"
    return MemoryDecision(mode.value, profile, reason, available, needed, check, fits, media=media.peak)


def _refusal(profile: str, model: int, media: MediaNeed, available: int) -> NotEnoughMemoryError:
    if model <= available:  # the story alone fits: it is the media that do not
        together = " at the same time" if profile in media.beside else ""
        return NotEnoughMemoryError(
            f"not enough memory for the story's media: {human_bytes(available)} available, the {profile} "
            f"profile needs ~{human_bytes(model)} and the {media.what}{together}",
            f"drop what does not fit: {media.hint}" if media.hint else preflight_advice(profile))
    return NotEnoughMemoryError(
        f"not enough memory: {human_bytes(available)} available, the {profile} profile needs "
        f"~{human_bytes(model)}", preflight_advice(profile))


def media_check(media: MediaNeed, available: int) -> None:
    """With a model server, only the media run here: refuse them when they cannot fit."""
    if media.peak > available:
        raise NotEnoughMemoryError(
            f"not enough memory for the story's media: {human_bytes(available)} available, the "
            f"{media.what}", f"drop what does not fit: {media.hint}")


def unestimated(mode: MemoryMode, available: int) -> MemoryDecision:
    """A model whose header lacks the numbers the estimate needs: no check, the asked profile
    (the most generous for auto)."""
    profile = mode.profile or profiles.names()[0]
    return MemoryDecision(mode.value, profile,
                          "this model's memory need cannot be estimated; memory not checked",
                          available, 0, checked=False, fits=True)


def download_warning(name: str, low_memory_need: int | None, total: int) -> str | None:
    """Before fetching a model, say so if it cannot run here even in the low-memory profile."""
    if low_memory_need is None or low_memory_need <= total:
        return None
    return (f"{name} needs ~{human_bytes(low_memory_need)} of memory even in the low-memory profile, "
            f"and this machine has {human_bytes(total)}: it will not run here; "
            "consider a smaller model from `dreamflow download-model --list`")
