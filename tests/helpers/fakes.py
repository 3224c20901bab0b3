"""A fake backend for the fast tier: the seam's public interface (backend.Backend), no llama.cpp.

It serves only fast unit tests and error paths a real model cannot produce on demand; every
behaviour keeps a real-model test (the `model` marker). One "token" here is one word.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

from dreamflow_cli.backend.registry import BackendEntry, Prepared
from dreamflow_cli.backend.seam import Generation, Prompt, TokenCallback, fit_max_tokens
from dreamflow_cli.doctor.checks import PASS, Check
from dreamflow_cli.plan.parallelism import ParallelChoice
from dreamflow_cli.run.setup import RunPlan
from dreamflow_cli.settings.profiles import Profile, build
from dreamflow_cli.settings.table import Settings

CALM_STORY = (
    "Mia found a sleepy fox curled up under the old oak tree. The fox yawned and smiled at her. "
    "Together they watched the stars come out one by one over the quiet meadow. A soft wind sang "
    "in the grass, and the moon rose round and gold. The fox told Mia about the owls and the "
    "little mice who were getting ready for bed. Mia stroked his warm fur and felt very calm. "
    "Slowly, the fox closed his eyes, and Mia yawned a big sleepy yawn. They snuggled close and "
    "drifted off to sleep, safe and warm under the stars. Goodnight, little fox."
)

TextFor = Callable[[Prompt, int], str]


class FakeBackend:
    """Writes ``text_for(prompt, seed)`` (by default CALM_STORY), a word per token, within the
    budget; records every call. Thread-safe like the real ones."""

    kind = "fake"

    def __init__(self, text_for: TextFor | None = None, *, profile: Profile | None = None,
                 has_chat_template: bool = True, max_parallel: int = 1):
        self.text_for: TextFor = text_for or (lambda prompt, seed: CALM_STORY)
        self.profile = profile or build("standard", cores=2)
        self.has_chat_template = has_chat_template
        self.load_seconds = 0.01
        self.max_parallel = max_parallel
        self.calls: list[tuple[Prompt, int, int]] = []  # (prompt, max_tokens, seed)
        self.closed = False
        self.interrupted = False
        self._lock = threading.Lock()

    def count_tokens(self, prompt: Prompt) -> int:
        return len(f"{prompt.system} {prompt.user} {prompt.prefix}".split())

    def generate(self, prompt: Prompt, *, max_tokens: int, sampling: Mapping[str, float], seed: int,
                 on_token: TokenCallback | None = None) -> Generation:
        if self.closed:
            raise RuntimeError("generate() on a closed backend")
        prompt_tokens = self.count_tokens(prompt)
        budget = fit_max_tokens(prompt_tokens, max_tokens, self.profile.n_ctx)
        with self._lock:
            self.calls.append((prompt, max_tokens, seed))
        words = self.text_for(prompt, seed).split()
        written = words[:budget]
        for count in range(1, len(written) + 1):
            if on_token is not None:
                on_token(count)  # may raise: it propagates, and the backend stays usable
        return Generation(text=" ".join(written), prompt_tokens=prompt_tokens, generated_tokens=len(written),
                          max_tokens=budget, seconds=0.01 * max(1, len(written)), first_token_seconds=0.01,
                          finish_reason="stop" if len(written) == len(words) else "length")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": "fake"}

    def interrupt(self) -> None:
        self.interrupted = True

    def close(self) -> None:
        self.closed = True


def fake_prepare(settings: Settings, **_machine: Any) -> Prepared:
    return Prepared(profile=build("standard", cores=2), memory=None,
                    model={"path": None, "size_bytes": None, "name": "fake", "source": "fake"},
                    identity={"model": "fake", "model_size": 0})


def fake_doctor(report: Any, settings: Settings, machine: Any, **_: Any) -> None:
    report.checks.append(Check("fake backend", PASS, "always ready"))


# A third backend, as a plugin would add one: one entry, one registry.register(FAKE_ENTRY) call.
FAKE_ENTRY = BackendEntry(
    name="fake", summary="a fake for tests", prepare=fake_prepare,
    open=lambda prepared, settings, **_: FakeBackend(profile=prepared.profile),
    parallel=lambda requested, prepared, stories: None, doctor=fake_doctor)


def fake_run(settings: Settings, parallel: int | None = None) -> RunPlan:
    """A run planned for the fake backend: no model file, no memory decision."""
    choice = ParallelChoice(parallel, parallel, "") if parallel else None
    return RunPlan(settings, FAKE_ENTRY, fake_prepare(settings), choice)
