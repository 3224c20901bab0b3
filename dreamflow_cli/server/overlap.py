"""Does a model server write two stories at once? `doctor --backend openai` sends two tiny
streamed completions together, notes when each token arrives, and classifies what it saw.

The decision uses the *order* of events, not their timings, so a slow or busy machine does not
change the verdict (measured against real llama-cpp-python servers under a load of 7-8 on two
cores: the same verdict in every run while absolute times varied eightfold):

* **turns-away**: one request got 429/503: the server takes one at a time under this load.
* **cuts**: one stream ended without a finish reason (``[DONE]`` early, or the body ended) while
  the other finished: llama-cpp-python's default. One story at a time, and a second request
  costs the first its work.
* **overlaps**: both finished and the later-starting one streamed at least ``MIN_INTERLEAVED``
  tokens before the earlier one's last: the server writes both at once (llama-server
  --parallel N, vLLM, Ollama with OLLAMA_NUM_PARALLEL > 1).
* **waits**: both finished, the later one's tokens all came after the earlier one's last: the
  server queues (llama-cpp-python --interrupt_requests False, LM Studio). One story at a time,
  but a second request in flight is harmless and keeps the server busy between stories.
* **unknown**: anything else (errors, too few tokens to tell), and why.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from dreamflow_cli.server.capacity import Outcome
from dreamflow_cli.server.client import Client, ClientFault, ServerFault
from dreamflow_cli.server.endpoints import Endpoint

PROBE_MAX_TOKENS = 24  # enough tokens to see interleaving; ~0.5 s at 50 tokens/s
MIN_CONTENT_EVENTS = 4  # fewer than this from either: overlap cannot be told from queueing
MIN_INTERLEAVED = 2  # one could be TCP clumping at the boundary
STAGGER_SECONDS = 0.02  # the second request leaves this long after the first: which was first is known


@dataclass
class Reading:
    """One probe request as the client saw it. Times are ``clock()`` seconds."""

    sent: float
    status: int | None = None
    content_times: list[float] = field(default_factory=list)
    finish_reason: str | None = None
    done: bool = False  # the stream ended cleanly ("data: [DONE]") without a finish reason
    error: str | None = None


@dataclass(frozen=True)
class OverlapVerdict:
    kind: str  # overlaps | waits | cuts | turns-away | unknown
    parallel: int | None  # usable parallelism seen: 2 means "at least 2"; None: unknown
    detail: str  # one line for doctor


def classify(a: Reading, b: Reading) -> OverlapVerdict:
    """The verdict for two requests sent at (nearly) the same moment."""
    pair = (a, b)
    busy = [r for r in pair if r.status in (429, 503)]
    if busy:
        return OverlapVerdict("turns-away", 1, f"turned the second request away (HTTP {busy[0].status})")
    broken = [r for r in pair if r.error is not None or r.status != 200]
    if broken:
        r = broken[0]
        return OverlapVerdict("unknown", None, f"a probe request failed: {r.error or f'HTTP {r.status}'}")
    finished = [r for r in pair if r.finish_reason is not None]
    if len(finished) == 1:
        cut = a if finished[0] is b else b
        return OverlapVerdict("cuts", 1, f"ended one request early ({len(cut.content_times)} token(s), "
                                         f"{'[DONE]' if cut.done else 'end of body'} without a finish reason) "
                                         "when a second arrived")
    if not finished:
        return OverlapVerdict("unknown", None, "neither probe request finished")
    if min(len(r.content_times) for r in pair) < MIN_CONTENT_EVENTS:
        return OverlapVerdict("unknown", None, "the replies were too short to tell")
    early, late = sorted(pair, key=lambda r: r.content_times[0])
    early_last = early.content_times[-1]
    interleaved = sum(1 for t in late.content_times if t < early_last)
    if interleaved >= MIN_INTERLEAVED:
        return OverlapVerdict("overlaps", 2, f"wrote both at once ({interleaved} of {len(late.content_times)} "
                                             "tokens of the second arrived while the first was streaming)")
    waited = late.content_times[0] - late.sent
    return OverlapVerdict("waits", 1, f"wrote one at a time: the second waited {waited:.2f} s for the first")


def _read(client: Client, endpoint: Endpoint, payload: dict[str, Any], reading: Reading,
          clock: Callable[[], float]) -> None:
    try:
        for chunk in client.stream_chat(endpoint, payload, deadline=client.timeout):
            reading.status = 200
            if chunk.content:
                reading.content_times.append(clock())
            reading.finish_reason = reading.finish_reason or chunk.finish_reason
    except ServerFault as fault:
        if fault.outcome in (Outcome.CUT, Outcome.DROPPED):
            reading.status, reading.done = 200, fault.outcome is Outcome.CUT
        elif fault.outcome is Outcome.BUSY:
            reading.status = fault.status
        else:
            reading.error = fault.message
    except ClientFault as fault:
        reading.error = fault.message


def measure(client: Client, endpoint: Endpoint, model: str | None, *, max_tokens: int = PROBE_MAX_TOKENS,
            clock: Callable[[], float] = time.monotonic) -> tuple[Reading, Reading]:
    """Send the two probe requests together (the second just after the first) and read both to
    the end. Different prompts and seeds, so no server can answer one from the other's cache."""
    readings: list[Reading] = []
    threads = []
    for i, topic in enumerate(("a sleepy fox", "a quiet owl")):
        payload: dict[str, Any] = {"messages": [{"role": "user", "content": f"Tell a bedtime story about {topic}."}],
                                   "stream": True, "max_tokens": max_tokens, "temperature": 0, "seed": i + 1}
        if model:
            payload["model"] = model
        reading = Reading(sent=clock())
        readings.append(reading)
        thread = threading.Thread(target=_read, args=(client, endpoint, payload, reading, clock), daemon=True)
        thread.start()
        threads.append(thread)
        time.sleep(STAGGER_SECONDS)
    for thread in threads:
        thread.join()
    return readings[0], readings[1]
