"""Several stories at once from one loaded model: the ``local`` backend for ``--parallel N``.

One llama.cpp context holds N sequences, each with its own slice of the KV cache (a non-unified
cache gives every sequence a full story context). One thread owns that context and runs the
decode loop: each ``llama_decode`` carries one token for every story being written, plus prompt
tokens of stories just starting, and each story samples from its own logits with its own
sampler chain (its seed, its sampling settings). A finished story's sequence is handed straight
to the next waiting one (continuous batching), so short stories never wait for long ones.

``generate()`` keeps the single-story contract: callers (the batch's worker threads) block until
their own story is done and see its tokens arrive through ``on_token`` in their own thread, so
guard retries, endings, pictures and story folders stay exactly as they are for one story.

Prompts in a batch share their first ~100 tokens (the system prompt). A new story's sequence
starts from a copy of the longest matching prefix already in the cache (its own previous story,
or another sequence's) instead of decoding it again.

Where the text can differ from one story at a time: llama.cpp computes a step of several rows
differently from a step of one (measured here: the same prompt token's logits, in a 60-row step
and alone, differed by up to 0.67 of ~21), and a prompt continuing a cached prefix is computed
in other pieces than a whole one.
With one sequence the steps and prefixes are the one-story engine's own, and the tokens are
identical. With several, a story parts from its one-at-a-time text at the first step whose two
best candidates nearly tie: rare with the default sampling (the tests' stories match), common
with greedy decoding (NOTES: 3 of 4 matched at N=4; here greedy at N=2 parted within a few
tokens). Which stories share a step depends on when each worker asks, so two runs of the same
parallel batch may differ in the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator, Mapping
from typing import Any

from dreamflow_cli.backend.seam import Cancelled, Generation, Prompt, TokenCallback, fit_max_tokens
from dreamflow_cli.plan.preflight import MEMORY_ADVICE
from dreamflow_cli.settings.profiles import Profile
from dreamflow_cli.engine.single import load_model, LoadedModel
from dreamflow_cli.errors import ModelError, NotEnoughMemoryError
from dreamflow_cli.engine.gpu import GpuDecision
from dreamflow_cli.engine.threads import Governor, ThreadChoice, thread_record

# llama-cpp-python's own sampler keeps this many recent tokens for the repeat penalty; the same
# number here keeps a story's text the same whether it is written alone or beside others.
PENALTY_LAST_N = 64
# Borrow another sequence's cache only for a prefix worth the copy (a copy moves a whole slice).
MIN_SHARED_PREFIX = 16


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Reuse:
    """How a new story starts: from which sequence's cache (``donor``; None = its own) and how
    many of its prompt tokens are already there (``keep``)."""

    donor: int | None
    keep: int


def plan_reuse(slot: int, caches: Mapping[int, list[int]], prompt: list[int],
               min_shared: int = MIN_SHARED_PREFIX) -> Reuse:
    """``caches``: the tokens each sequence holds now. At least the prompt's last token is always
    decoded again, since its logits choose the story's first token."""
    limit = max(0, len(prompt) - 1)
    own = min(common_prefix(caches.get(slot, []), prompt), limit)
    best, donor = own, None
    for other, tokens in caches.items():
        if other == slot:
            continue
        shared = min(common_prefix(tokens, prompt), limit)
        if shared > best and shared >= min_shared:
            best, donor = shared, other
    return Reuse(donor, best)


def prefix_coming(reusable: int, starting: list[list[int]], prompt: list[int],
                  min_shared: int = MIN_SHARED_PREFIX) -> bool:
    """``reusable``: prompt tokens the caches hold now; ``starting``: prompts still being decoded.
    Worth waiting when one of those will leave a prefix at least ``min_shared`` tokens longer."""
    limit = max(0, len(prompt) - 1)
    coming = max((min(common_prefix(other, prompt), limit) for other in starting), default=0)
    return coming >= reusable + min_shared


@dataclass
class _Request:
    prompt: list[int]
    budget: int
    sampling: Mapping[str, float]
    seed: int
    events: queue.SimpleQueue[tuple[str, Any]] = field(default_factory=queue.SimpleQueue)
    cancelled: bool = False
    out: list[int] = field(default_factory=list)
    finish: str = "length"
    admitted: float = 0.0
    first_token: float = 0.0
    finished: float = 0.0


@dataclass
class _Slot:
    seq: int
    cached: list[int] = field(default_factory=list)  # tokens whose keys/values the sequence holds
    request: _Request | None = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to decode
    next_token: int | None = None  # sampled, to be decoded in the next step
    sampler: Any = None
    started: int = 0  # admission order, so prompts are read first come, first served


class DecodeLoop:
    """The thread that owns the llama.cpp context. Everything touching the context, the KV cache,
    the batch or a sampler happens on it."""

    def __init__(self, llama: Any, low_level: Any, is_end: Any, slots: int, n_batch: int):
        self._llama, self._ll, self._is_end = llama, low_level, is_end
        self._ctx = llama._ctx.ctx
        self._memory = low_level.llama_get_memory(self._ctx)
        self._n_batch = n_batch
        self._batch = low_level.llama_batch_init(n_batch, 0, 1)
        self._slots = [_Slot(seq) for seq in range(slots)]
        self._waiting: list[_Request] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._held = 0
        self._admitted = 0
        self._touched: list[_Slot] = []
        self.governor: Governor | None = None
        self.steps = 0
        self.reused_tokens = 0
        self._thread = threading.Thread(target=self._run, name="dreamflow-decoder", daemon=True)
        self._thread.start()

    # --- called from worker threads ---------------------------------------------------------

    def submit(self, prompt: list[int], budget: int, sampling: Mapping[str, float], seed: int) -> _Request:
        request = _Request(list(prompt), budget, dict(sampling), seed)
        with self._cond:
            if self._stopping:
                raise ModelError("the model was closed before this story could start", "run the command again")
            self._waiting.append(request)
            self._cond.notify()
        return request

    def cancel(self, request: _Request) -> None:
        request.cancelled = True
        with self._cond:
            if request in self._waiting:
                self._waiting.remove(request)
            self._cond.notify()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Pause stepping; whatever is submitted meanwhile starts together when the hold ends,
        so the schedule (which stories share which steps) does not depend on thread timing."""
        with self._cond:
            self._held += 1
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify()

    def drop_waiting(self, error: BaseException) -> None:
        """End every story not yet given a sequence with ``error``."""
        with self._cond:
            waiting, self._waiting = self._waiting, []
        for request in waiting:
            request.cancelled = True
            request.events.put(("error", error))

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        closed = ModelError("the model was closed while this story was being written", "run the command again")
        try:
            while self._step():
                pass
        except Exception as exc:  # noqa: BLE001 - every waiting caller hears of it, none hangs
            closed = ModelError(f"the decoder stopped: {exc}", "run the command again; DREAMFLOW_DEBUG=1 shows more")
            raise
        finally:
            with self._cond:
                self._stopping = True  # later submissions are refused instead of waiting forever
                waiting, self._waiting = self._waiting, []
            for request in waiting:
                request.events.put(("error", closed))
            for slot in self._slots:
                if slot.request is not None:
                    self._end(slot, error=closed)
            self._ll.llama_batch_free(self._batch)

    def _step(self) -> bool:
        with self._cond:
            while not self._stopping and (self._held or not (self._waiting or any(s.request for s in self._slots))):
                self._cond.wait()
            if self._stopping:
                return False
            for slot in self._slots:
                if slot.request is not None and slot.request.cancelled:
                    self._end(slot)
            for slot in self._slots:
                if slot.request is None and self._waiting:
                    if self._prefix_coming(slot, self._waiting[0]):
                        break
                    self._admit(slot, self._waiting.pop(0))
        rows = self._fill_batch()
        if not rows:
            return True
        generating = sum(1 for _, _, prompt in rows if not prompt)
        started = time.perf_counter()
        code = self._ll.llama_decode(self._ctx, self._batch)
        seconds = time.perf_counter() - started
        self.steps += 1
        if code != 0:
            self._fail(code)
            return True
        for index, slot, _ in rows:
            if slot.request is not None:
                self._sample(slot, index)
        if self.governor is not None and generating == len(rows):
            threads = self.governor.observe(seconds, generating)
            if threads is not None:
                self._ll.llama_set_n_threads(self._ctx, threads, threads)
        return True

    def _prefix_coming(self, slot: _Slot, request: _Request) -> bool:
        """Whether the next story should wait a step or two: a story being started now will have
        decoded a longer shared prefix (the system prompt, when a batch begins) than any cache holds."""
        caches = {s.seq: s.cached for s in self._slots}
        starting = [s.request.prompt for s in self._slots if s.request is not None and s.pending]
        return prefix_coming(plan_reuse(slot.seq, caches, request.prompt).keep, starting, request.prompt)

    def _admit(self, slot: _Slot, request: _Request) -> None:
        caches = {s.seq: s.cached for s in self._slots}
        reuse = plan_reuse(slot.seq, caches, request.prompt)
        if reuse.donor is not None:
            # Across sequences llama.cpp copies the donor's whole slice (at the next decode);
            # the tail after the shared prefix is dropped right below.
            self._ll.llama_memory_seq_cp(self._memory, reuse.donor, slot.seq, -1, -1)
            slot.cached = list(self._slots[reuse.donor].cached)
        keep = reuse.keep
        if not self._ll.llama_memory_seq_rm(self._memory, slot.seq, keep, -1):
            self._ll.llama_memory_seq_rm(self._memory, slot.seq, -1, -1)
            keep = 0
        self.reused_tokens += keep
        slot.cached = slot.cached[:keep]
        slot.pending = request.prompt[keep:]
        slot.next_token = None
        slot.request = request
        slot.sampler = self._sampler(request.sampling, request.seed)
        self._admitted += 1
        slot.started = self._admitted
        request.admitted = time.perf_counter()

    def _sampler(self, sampling: Mapping[str, float], seed: int) -> Any:
        """The chain llama-cpp-python's Llama.generate builds, so a seed writes the same story
        here as through the one-story path."""
        ll = self._ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())

        def add(sampler: Any) -> None:
            ll.llama_sampler_chain_add(chain, sampler)

        add(ll.llama_sampler_init_penalties(self._llama.n_vocab(), PENALTY_LAST_N,
                                            float(sampling["repeat_penalty"]), 0.0, 0.0))
        temp = float(sampling["temperature"])
        if temp < 0:
            add(ll.llama_sampler_init_dist(seed))
        elif temp == 0:
            add(ll.llama_sampler_init_greedy())
        else:
            add(ll.llama_sampler_init_top_k(int(sampling["top_k"])))
            add(ll.llama_sampler_init_typical(1.0, 1))
            add(ll.llama_sampler_init_top_p(float(sampling["top_p"]), 1))
            add(ll.llama_sampler_init_min_p(float(sampling["min_p"]), 1))
            add(ll.llama_sampler_init_temp(temp))
            add(ll.llama_sampler_init_dist(seed))
        return chain

    def _fill_batch(self) -> list[tuple[int, _Slot, bool]]:
        """One token for every story being written, then prompt tokens (oldest story first) up
        to the batch size. Returns (batch index, slot, is a prompt row) for rows with logits."""
        batch, n = self._batch, 0
        rows: list[tuple[int, _Slot, bool]] = []
        self._touched = []

        def put(token: int, slot: _Slot, logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = len(slot.cached)
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = slot.seq
            batch.logits[n] = logits
            slot.cached.append(token)
            if not self._touched or self._touched[-1] is not slot:
                self._touched.append(slot)
            n += 1

        for slot in self._slots:
            if slot.request is not None and slot.next_token is not None:
                rows.append((n, slot, False))
                put(slot.next_token, slot, True)
                slot.next_token = None
        for slot in sorted((s for s in self._slots if s.request is not None and s.pending), key=lambda s: s.started):
            while slot.pending and n < self._n_batch:
                token = slot.pending.pop(0)
                last = not slot.pending
                if last:
                    rows.append((n, slot, True))
                put(token, slot, last)
        batch.n_tokens = n
        return rows

    def _sample(self, slot: _Slot, index: int) -> None:
        request = slot.request
        assert request is not None
        token = self._ll.llama_sampler_sample(slot.sampler, self._ctx, index)
        now = time.perf_counter()
        if not request.out:
            request.first_token = now - request.admitted
        if self._is_end(token):
            request.finish = "stop"
            self._end(slot)
            return
        request.out.append(token)
        request.events.put(("token", len(request.out)))
        if len(request.out) >= request.budget:
            self._end(slot)
        else:
            slot.next_token = token

    def _end(self, slot: _Slot, error: BaseException | None = None) -> None:
        request = slot.request
        if slot.sampler is not None:
            self._ll.llama_sampler_free(slot.sampler)
        slot.request, slot.sampler, slot.pending, slot.next_token = None, None, [], None
        if request is None:
            return
        request.finished = time.perf_counter()
        request.events.put(("error", error) if error is not None else ("done", None))

    def _fail(self, code: int) -> None:
        """A failed step: the stories it carried end with an error and their sequences are emptied
        (what a failed decode left in the cache is unknown); the other stories go on."""
        error = NotEnoughMemoryError(f"llama.cpp could not continue the story (llama_decode returned {code})",
                                     MEMORY_ADVICE)
        for slot in self._touched:
            self._ll.llama_memory_seq_rm(self._memory, slot.seq, -1, -1)
            slot.cached = []
            self._end(slot, error=error)


class ParallelBackend:
    """The ``local`` backend when up to ``max_parallel`` stories are written at once."""

    kind = "local"

    def __init__(self, model: LoadedModel, profile: Profile, slots: int):
        import llama_cpp.llama_cpp as low_level

        self._model = model
        self.profile = profile  # one story's share: n_ctx is per sequence
        self.path = model.path
        self.max_parallel = slots
        self.has_chat_template = model.has_chat_template
        self.load_seconds = model.load_seconds
        self._threads: ThreadChoice | None = None
        self._gpu: GpuDecision | None = None
        self._model_lock = threading.Lock()
        self._closed = False
        self._llama = model.llama
        self._loop = DecodeLoop(self._llama, low_level, model.is_end, slots, profile.n_batch)

    @property
    def governor(self) -> Governor | None:
        return self._loop.governor

    @property
    def loop(self) -> DecodeLoop:
        return self._loop

    @property
    def llama(self) -> Any:
        return self._llama

    def attach_policy(self, threads: ThreadChoice, governor: Governor | None, gpu: GpuDecision | None = None) -> None:
        """The thread policy's first choice (already applied) and its governor, which the decode
        loop feeds with the time of every step that only generates; the GPU decision, for the record."""
        self._threads = threads
        self._gpu = gpu
        self._loop.governor = governor

    @contextlib.contextmanager
    def _open(self) -> Iterator[LoadedModel]:
        """The model, for work outside the decode loop (tokenizing); never a freed one."""
        with self._model_lock:
            if self._closed:
                raise ModelError("the model was closed before this story could start", "run the command again")
            yield self._model

    def render(self, prompt: Prompt) -> str:
        return self._model.render(prompt)

    def tokenize(self, text: str) -> list[int]:
        with self._open() as model:
            return model.tokenize(text)

    def count_tokens(self, prompt: Prompt) -> int:
        with self._open() as model:
            return model.count_tokens(prompt)

    def generate(self, prompt: Prompt, *, max_tokens: int, sampling: Mapping[str, float], seed: int,
                 on_token: TokenCallback | None = None) -> Generation:
        ids = self.tokenize(self.render(prompt))
        if not ids:
            raise ModelError("the prompt is empty after tokenizing", "give the story a prompt")
        budget = fit_max_tokens(len(ids), max_tokens, self.profile.n_ctx)
        request = self._loop.submit(ids, budget, sampling, seed)
        try:
            while True:
                kind, value = request.events.get()
                if kind == "token":
                    if on_token is not None:
                        on_token(value)
                elif kind == "done":
                    break
                else:
                    raise value
        except BaseException:
            self._loop.cancel(request)  # the sequence is freed for the next story at the next step
            raise
        with self._open():
            text = self._llama.detokenize(request.out).decode("utf-8", errors="ignore")
        return Generation(text=text, prompt_tokens=len(ids), generated_tokens=len(request.out), max_tokens=budget,
                          seconds=request.finished - request.admitted, first_token_seconds=request.first_token,
                          finish_reason=request.finish)

    def describe(self) -> dict[str, Any]:
        record: dict[str, Any] = {"kind": self.kind, "model": self.path.name, "parallel": self.max_parallel,
                                  "prefix_tokens_reused": self._loop.reused_tokens}
        if self._threads is not None:
            record["threads"] = thread_record(self._threads, self.governor)
        if self._gpu is not None:
            record["gpu"] = self._gpu.as_dict()
        return record

    def interrupt(self) -> None:
        """Stories still waiting for a sequence end now; those being written stop at their next
        token (the batch's cancel flag, checked in their token callback)."""
        self._loop.drop_waiting(Cancelled())

    def close(self) -> None:
        self._loop.stop()
        with self._model_lock:
            if not self._closed:
                self._closed = True
                self._model.close()


@contextlib.contextmanager
def _sequences(low_level: Any, n_seq_max: int) -> Iterator[None]:
    """llama-cpp-python's Llama has no argument for the number of sequences; it builds its context
    params from ``llama_context_default_params()``, so hand it defaults with ours filled in."""
    original = low_level.llama_context_default_params

    def with_sequences() -> Any:
        params = original()
        params.n_seq_max = n_seq_max
        params.kv_unified = False  # each sequence its own slice: measured faster than one shared
        return params

    low_level.llama_context_default_params = with_sequences
    try:
        yield
    finally:
        low_level.llama_context_default_params = original


def load_parallel(path: Path, profile: Profile, slots: int, *, verbose: bool = False,
                  n_gpu_layers: int = 0) -> ParallelBackend:
    """Load the model once with room for ``slots`` stories, each with ``profile.n_ctx`` tokens."""
    import llama_cpp.llama_cpp as low_level

    slots = min(slots, low_level.llama_max_parallel_sequences())
    shared = dataclasses.replace(profile, n_ctx=profile.n_ctx * slots)
    with _sequences(low_level, slots):
        model = load_model(path, shared, verbose=verbose, n_gpu_layers=n_gpu_layers)
    return ParallelBackend(model, profile, slots)
