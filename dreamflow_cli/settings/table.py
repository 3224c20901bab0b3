"""The settings table: one frozen dataclass whose fields are the keys of the config file, the
environment and the flags, with their defaults (``DEFAULTS``) and bounds.

Precedence and loading live in settings/load.py; one key's coercion in settings/keys.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.keys import AUTO, Key, keys_of, setting, word_list
from dreamflow_cli.settings.profiles import MIN_STORY_TOKENS, MemoryMode

PROFILE_KEYS = profiles.VALUE_KEYS
# The content guard's levels, from the mildest (they nest: each blocks what the one before does).
GUARD_LEVELS = ("relaxed", "standard", "strict")
DEFAULT_GUARD_LEVEL = "standard"
MAX_GUARD_RETRIES = 10
# The beat scaffold (story/composer.py): auto turns it on for models under SCAFFOLD_AUTO_BELOW parameters.
SCAFFOLD_CHOICES = ("auto", "on", "off")
MAX_EXTRA_TERMS = 200


def parse_terms(value: Any) -> tuple[str, ...]:
    """guard_extra_terms: a TOML list of strings, or one comma-separated string (env)."""
    return word_list(value, key="guard_extra_terms", limit=MAX_EXTRA_TERMS,
                     example='guard_extra_terms = ["thunder", "spider"]')


@dataclass(frozen=True)
class Settings:
    """The effective settings. Every field made with ``setting(...)`` is a key of the config file,
    of ``config show`` and of config.example.toml: adding a key is adding one line here."""

    model: str | None = setting(
        None, "DREAMFLOW_MODEL", "LOCAL_MODEL_PATH",
        doc="Model file path or catalog name; empty = first known model in models_dir.")
    models_dir: Path = setting(
        Path("models"), "DREAMFLOW_MODELS_DIR",
        doc="Where downloaded GGUF models live (relative paths are from the working directory).")
    out_dir: Path = setting(Path("stories"), "DREAMFLOW_OUT_DIR", doc="Where story folders are written.")
    low_memory: MemoryMode = setting(
        MemoryMode.AUTO, "DREAMFLOW_LOW_MEMORY", "LOW_MEMORY_MODE", auto=True, kind=bool, check=MemoryMode.of,
        doc="Low-memory profile: true, false, or auto (standard when it fits with headroom).")
    scenes: int = setting(3, "DREAMFLOW_SCENES", low=1, high=8, doc="Scenes (and pictures) per story.")
    images: bool = setting(True, "DREAMFLOW_IMAGES", doc="Draw one picture per scene, showing what it is about.")
    captions: bool = setting(
        False, "DREAMFLOW_CAPTIONS",
        doc="Print each scene's caption in a band on its picture (off: the picture carries only a tiny credit).")
    book: bool = setting(True, "DREAMFLOW_BOOK", doc="Write book.pdf, a printable picture book of the story.")
    epub: bool = setting(False, "DREAMFLOW_EPUB", doc="Also write book.epub, the picture book for e-readers.")
    narrate: bool = setting(
        False, "DREAMFLOW_NARRATE",
        doc="Read the story aloud into narration.mp3 with an offline voice (pip install 'dreamflow[voice]').")
    voice: str | None = setting(
        None, "DREAMFLOW_VOICE",
        doc="The narrator's voice: a catalog name (dreamflow download-model --list) or a .onnx file; "
            "unset = the first voice installed in models_dir.")
    video: bool = setting(
        False, "DREAMFLOW_VIDEO",
        doc="Make story.mp4, the pictures with the narration, and story.vtt subtitles (pip install 'dreamflow[video]').")
    video_quality: str = setting(
        "fast", "DREAMFLOW_VIDEO_QUALITY", choices=("fast", "high"),
        doc="fast: the pictures' own size at 12 frames a second; high: twice the size at 24, smoother and slower.")
    seed: int | None = setting(None, "DREAMFLOW_SEED", low=0, high=2**31 - 1, doc="Sampling seed; unset = random.")
    name: str | None = setting(None, "DREAMFLOW_NAME", doc="Default child's name for the hero.")
    age: int | None = setting(None, "DREAMFLOW_AGE", low=1, high=12, doc="Default child's age (1-12).")
    theme: str | None = setting(None, "DREAMFLOW_THEME", doc="Where stories happen, e.g. \"a snowy forest\".")
    moral: str | None = setting(None, "DREAMFLOW_MORAL", doc="A lesson stories show gently.")
    minutes: float | None = setting(
        None, "DREAMFLOW_MINUTES", low=0.25, high=30,
        doc="Read-aloud minutes a story should last (at 130 words a minute), within the profile's max_tokens; "
            "unset = the profile's budget.")
    guard_level: str = setting(
        DEFAULT_GUARD_LEVEL, "DREAMFLOW_GUARD_LEVEL", choices=GUARD_LEVELS,
        doc="Content guard strictness: relaxed, standard or strict.")
    guard_retries: int = setting(
        3, "DREAMFLOW_GUARD_RETRIES", low=0, high=MAX_GUARD_RETRIES,
        doc="New attempts (with new seeds) when a story trips the guard.")
    guard_extra_terms: tuple[str, ...] = setting(
        (), "DREAMFLOW_GUARD_EXTRA_TERMS", check=parse_terms, doc="More words the guard blocks.")
    candidates: int = setting(
        3, "DREAMFLOW_CANDIDATES", low=1, high=8,
        doc="Drafts written at most per story; the best by the content checks is kept (stops early when one is good enough).")
    scaffold: str = setting(
        "auto", "DREAMFLOW_SCAFFOLD", choices=SCAFFOLD_CHOICES,
        doc="Write the story one calm beat at a time (where we are, a small wish, a gentle try, comfort, "
            "sleep), each begun with the hero's name: on, off, or auto (on for local models under 1B parameters).")
    temperature: float = setting(0.6, "DREAMFLOW_TEMPERATURE", low=0, high=2, doc="Sampling temperature.")
    top_p: float = setting(0.9, low=0, high=1, doc="Nucleus sampling cut-off.")
    top_k: int = setting(40, low=0, high=1000, doc="Top-k sampling (0 = off).")
    min_p: float = setting(0.05, low=0, high=1, doc="Min-p sampling cut-off.")
    repeat_penalty: float = setting(1.1, low=1, high=2, doc="Penalty for repeated tokens.")
    warn_load_seconds: float = setting(60.0, low=1, high=86400, doc="Warn when loading the model takes longer.")
    warn_generation_seconds: float = setting(600.0, low=1, high=86400, doc="Warn when writing takes longer.")
    memory_check: bool = setting(
        True, "DREAMFLOW_MEMORY_CHECK", doc="Refuse to load a model that does not fit in available memory.")
    warn_memory_used_gb: float | None = setting(
        None, low=0.1, high=4096,
        doc="Warn when system memory in use exceeds this; unset = 7/8 of total (the guide's 7 GB of 8).")
    backend: str = setting(
        "local", "DREAMFLOW_BACKEND",
        doc="Who runs the model: local (in this process) or openai (an OpenAI-compatible server).")
    base_url: tuple[str, ...] = setting(
        (), "DREAMFLOW_BASE_URL",
        doc="Model-server URLs for the openai backend, e.g. http://127.0.0.1:8080/v1 (a list, or comma-separated).")
    parallel: int | str | None = setting(
        None, "DREAMFLOW_PARALLEL", low=1, high=64, auto=True,
        doc="Stories in flight at once in a batch; auto = as many as memory and the profile allow "
            "(local: up to 4, 2 in low-memory); unset = 1 locally, 2 per server with openai.")
    gpu_layers: int | str = setting(
        AUTO, "DREAMFLOW_GPU_LAYERS", low=0, high=999, auto=True,
        doc="Model layers on the GPU when llama.cpp was built with GPU support: auto = all that fit, "
            "0 = CPU only.")
    server_timeout: float = setting(
        120.0, "DREAMFLOW_SERVER_TIMEOUT", low=0.1, high=3600,
        doc="Seconds a model server may stay silent (connecting, or between streamed tokens).")
    server_retries: int = setting(
        3, "DREAMFLOW_SERVER_RETRIES", low=0, high=10,
        doc="New attempts, on another server when there is one, after a server fails mid-story.")
    ca_bundle: Path | None = setting(
        None, "DREAMFLOW_CA_BUNDLE",
        doc="PEM file of the certificates an https model server is checked against (its own, or its CA); "
            "unset = the system's (or SSL_CERT_FILE).")

    # Not keys: what the sources said, and where.
    # Per-profile values from the config file ([standard] / [low_memory] tables).
    profile_config: Mapping[str, Mapping[str, int | bool]] = field(default_factory=lambda: MappingProxyType({}))
    # --ctx/--batch/--threads/--max-tokens: applied to whichever profile is chosen.
    profile_flags: Mapping[str, int | bool] = field(default_factory=lambda: MappingProxyType({}))
    config_path: Path | None = None
    # key -> where its value came from ("default", "config file", "env NAME", "flag")
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def sampling(self) -> dict[str, float]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repeat_penalty": self.repeat_penalty,
        }


KEYS: tuple[Key, ...] = keys_of(Settings)
KEY_BY_NAME = {k.name: k for k in KEYS}
# Every default, as a Settings: other modules read defaults from here, never restate them.
DEFAULTS = Settings()
# Profile values. Threads above the core count are accepted here and capped when the profile is
# chosen (a config file may travel between machines); the ceiling only stops absurd numbers.
PROFILE_VALUE_KEYS = {
    "n_ctx": Key("n_ctx", int, None, (), profiles.MIN_CTX, 1 << 20),
    "n_batch": Key("n_batch", int, None, (), 1, 1 << 20),
    "n_threads": Key("n_threads", int, None, (), 1, None),
    "max_tokens": Key("max_tokens", int, None, (), MIN_STORY_TOKENS, 1 << 20),
    "repack": Key("repack", bool, None),
}
# The command-line spelling of each setting, so a message names what the user typed.
FLAG_NAMES = {"n_ctx": "--ctx", "n_batch": "--batch", "n_threads": "--threads", "max_tokens": "--max-tokens",
              "repack": "--repack", "out_dir": "--out", "low_memory": "--low-memory"}


def flag_name(key: str) -> str:
    return FLAG_NAMES.get(key, "--" + key.replace("_", "-"))
