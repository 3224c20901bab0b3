"""Several stories at once in one llama.cpp context, on the real model (SmolLM2, 1 thread)."""

from __future__ import annotations

import threading
import time

import pytest

from dreamflow_cli.backend.seam import Cancelled, Prompt
from dreamflow_cli.engine.parallel import Reuse, load_parallel, plan_reuse, prefix_coming
from dreamflow_cli.settings.profiles import MemoryMode, choose_profile
from dreamflow_cli.engine.single import load_model
from dreamflow_cli.errors import UsageError
from dreamflow_cli.engine.local import GovernedModel, open_local

SAMPLING = {"temperature": 0.6, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}
SYSTEM = "You write short, calm bedtime stories for young children. Use gentle words only."
PROMPTS = [Prompt(SYSTEM, f"Write a bedtime story about {topic}.", "Once upon a time")
           for topic in ("a sleepy owl", "a tiny boat", "the moon's hat", "a lost mitten")]
BUDGET = 40


@pytest.fixture(scope="module")
def profile():
    return choose_profile(MemoryMode.STANDARD, 1, None, {"n_threads": 1, "n_ctx": 512, "max_tokens": BUDGET})


@pytest.fixture(scope="module")
def solo(test_model, profile):
    """Each prompt written alone by the one-story engine, seed 100 + its index."""
    model = load_model(test_model, profile)
    try:
        yield [model.generate(p, max_tokens=BUDGET, sampling=SAMPLING, seed=100 + i) for i, p in enumerate(PROMPTS)]
    finally:
        model.close()


@pytest.fixture(scope="module")
def pair(test_model, profile):
    backend = load_parallel(test_model, profile, 2)
    yield backend
    backend.close()


def write_at_once(backend, jobs):
    """Run (prompt, seed, on_token) jobs on their own threads, like a batch's workers. They are
    queued in order while the decode loop holds, so which stories share which steps (and so the
    arithmetic) is the same on every run."""
    results: dict[int, object] = {}

    def work(i, prompt, seed, on_token):
        try:
            results[i] = backend.generate(prompt, max_tokens=BUDGET, sampling=SAMPLING, seed=seed, on_token=on_token)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what each worker got
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    with backend.loop.hold():
        for n, t in enumerate(threads, 1):
            t.start()
            deadline = time.monotonic() + 30
            while backend.loop.waiting() < n and time.monotonic() < deadline:
                time.sleep(0.005)
    for t in threads:
        t.join(timeout=300)
    return [results[i] for i in range(len(jobs))]


def test_stories_written_side_by_side_match_stories_written_alone(pair, solo):
    # Four stories on two sequences: the third and fourth start when the first two finish.
    got = write_at_once(pair, [(p, 100 + i, None) for i, p in enumerate(PROMPTS)])
    for alone, together in zip(solo, got):
        assert together.text == alone.text
        assert (together.generated_tokens, together.prompt_tokens, together.finish_reason) == \
            (alone.generated_tokens, alone.prompt_tokens, alone.finish_reason)
        assert together.max_tokens == BUDGET and together.seconds > 0
    assert pair.max_parallel == 2
    # The system prompt was copied between sequences, not decoded for every story.
    assert pair.describe()["prefix_tokens_reused"] > 0
    assert pair.describe()["parallel"] == 2


def test_each_story_keeps_its_own_seed(test_model, profile):
    # The same prompt three times, two seeds: as the one-story engine writes them one after the
    # other (each continuing the cached prompt), so the side-by-side stories do the same.
    jobs = [(PROMPTS[0], 5, None), (PROMPTS[0], 6, None), (PROMPTS[0], 5, None)]
    alone = load_model(test_model, profile)
    try:
        want = [alone.generate(p, max_tokens=BUDGET, sampling=SAMPLING, seed=seed).text for p, seed, _ in jobs]
    finally:
        alone.close()
    trio = load_parallel(test_model, profile, 3)
    try:
        got = [g.text for g in write_at_once(trio, jobs)]
    finally:
        trio.close()
    assert got[0] != got[1]
    assert got == want


def test_a_story_stopped_mid_way_leaves_the_others_untouched(pair, solo):
    seen = []

    def stop_after_three(count):
        seen.append(count)
        if count == 3:
            raise Cancelled()

    stopped, fine = write_at_once(pair, [(PROMPTS[0], 100, stop_after_three), (PROMPTS[1], 101, None)])
    assert isinstance(stopped, Cancelled) and seen == [1, 2, 3]
    assert fine.text == solo[1].text
    # The backend stays usable: the stopped story, written again, comes out whole. (Not always
    # token for token: its prompt is now cached but for the last token, which is decoded alone,
    # and llama.cpp's one-row arithmetic differs slightly from its many-row arithmetic.)
    again = pair.generate(PROMPTS[0], max_tokens=BUDGET, sampling=SAMPLING, seed=100)
    assert again.generated_tokens == solo[0].generated_tokens and again.text[:40] == solo[0].text[:40]


def test_tokens_arrive_on_the_callers_thread_in_order(pair):
    counts, where = [], set()

    def on_token(count):
        counts.append(count)
        where.add(threading.current_thread().name)

    gen = pair.generate(PROMPTS[2], max_tokens=BUDGET, sampling=SAMPLING, seed=1, on_token=on_token)
    assert counts == list(range(1, gen.generated_tokens + 1))
    assert where == {threading.current_thread().name}


def test_a_prompt_too_long_for_one_sequence_is_refused(pair):
    with pytest.raises(UsageError, match="leaving no room for a story"):
        pair.generate(Prompt(SYSTEM, "sleep " * 600), max_tokens=BUDGET, sampling=SAMPLING, seed=1)


def test_one_sequence_writes_exactly_what_the_one_story_engine_writes(test_model, profile):
    # With one sequence every step has one row, and each prompt continues the cached prefix of
    # the one before, just as llama-cpp-python's own generate does: the same arithmetic, so the
    # same tokens even for greedy decoding, where any difference would show at the first near-tie.
    # (With several sequences a step carries several rows, which llama.cpp sums differently, up
    # to ~0.7 in a logit of ~21 measured here; greedy text then parts at the first near-tie,
    # sampled text far less often: the sampled stories above match.)
    greedy = dict(SAMPLING, temperature=0.0)
    alone = load_model(test_model, profile)
    try:
        want = [alone.generate(p, max_tokens=BUDGET, sampling=s, seed=3) for s in (greedy, SAMPLING) for p in PROMPTS]
    finally:
        alone.close()
    one = load_parallel(test_model, profile, 1)
    try:
        got = [one.generate(p, max_tokens=BUDGET, sampling=s, seed=3) for s in (greedy, SAMPLING) for p in PROMPTS]
    finally:
        one.close()
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.generated_tokens for g in got] == [w.generated_tokens for w in want]


def test_open_local_records_the_thread_policy(test_model, profile):
    auto = open_local(test_model, profile, parallel=1)
    try:
        assert isinstance(auto, GovernedModel) and auto.max_parallel == 1
        threads = auto.describe()["threads"]
        assert threads["policy"] == "auto" and threads["threads"] >= 1 and threads["changes"] == []
        assert threads["sample_seconds"] >= 0.25  # the sample spans the load, at least its minimum
        gen = auto.generate(PROMPTS[0], max_tokens=BUDGET, sampling=SAMPLING, seed=100)
        assert gen.generated_tokens > 0
    finally:
        auto.close()
    fixed = open_local(test_model, profile, parallel=2, forced=1)
    try:
        assert fixed.max_parallel == 2
        record = fixed.describe()["threads"]
        assert (record["policy"], record["threads"], record["sample_seconds"]) == ("fixed", 1, None)
        assert "now" not in record  # a fixed count is not watched
    finally:
        fixed.close()


def test_plan_reuse_prefers_the_longest_cached_prefix():
    system = list(range(100))
    caches = {0: system + [7, 8, 9], 1: system[:40], 2: []}
    prompt = system + [1, 2]
    assert plan_reuse(2, caches, prompt) == Reuse(donor=0, keep=100)
    assert plan_reuse(0, caches, prompt) == Reuse(donor=None, keep=100)  # its own cache is as good
    assert plan_reuse(2, {0: [1, 2, 3], 2: []}, [1, 2, 3, 4]) == Reuse(None, 0)  # too short to be worth a copy
    # The prompt's last token is always decoded again: its logits pick the first story token.
    assert plan_reuse(1, {0: prompt + [5], 1: []}, prompt) == Reuse(donor=0, keep=len(prompt) - 1)


def test_a_story_waits_for_a_shared_prefix_being_decoded():
    system = list(range(100))
    prompt = system + [1, 2]
    assert prefix_coming(0, [system + [5, 6]], prompt)  # the batch's first story is decoding it
    assert not prefix_coming(100, [system + [5, 6]], prompt)  # already cached: start now
    assert not prefix_coming(0, [[9] * 50], prompt)  # nothing shared: start now
    assert not prefix_coming(0, [], prompt)


def test_interrupt_ends_stories_waiting_for_a_sequence_and_close_ends_the_rest(test_model, profile):
    from dreamflow_cli.errors import ModelError

    backend = load_parallel(test_model, profile, 2)
    results: dict[int, object] = {}

    def work(i):
        try:
            results[i] = backend.generate(PROMPTS[i], max_tokens=BUDGET, sampling=SAMPLING, seed=i)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what each worker got
            results[i] = exc

    with backend.loop.hold():  # nothing starts: all three stay queued
        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        while backend.loop.waiting() < 3:
            time.sleep(0.005)
        backend.interrupt()  # Ctrl-C in a batch: queued stories end at once
        for t in threads:
            t.join(timeout=30)
    assert all(isinstance(results[i], Cancelled) for i in range(3))

    with backend.loop.hold():
        late = threading.Thread(target=work, args=(3,))
        late.start()
        while backend.loop.waiting() < 1:
            time.sleep(0.005)
        backend.close()  # closing with a story queued: it fails, it does not hang
    late.join(timeout=30)
    assert isinstance(results[3], ModelError) and "closed" in results[3].message
    with pytest.raises(ModelError, match="closed before this story could start"):
        backend.generate(PROMPTS[0], max_tokens=BUDGET, sampling=SAMPLING, seed=1)


def test_a_sharp_slowdown_mid_story_drops_a_llama_cpp_thread(test_model):
    import llama_cpp.llama_cpp as low_level

    from dreamflow_cli.engine.threads import Governor, ThreadChoice

    two = choose_profile(MemoryMode.STANDARD, 2, None, {"n_threads": 2, "n_ctx": 512, "max_tokens": BUDGET})
    # A clock the test drives: 15 ms a token, then 50 ms from the 12th token on (a neighbour
    # arrived), so the governor's decision does not depend on this machine's real speed.
    now = [0.0]
    model = GovernedModel(load_model(test_model, two), ThreadChoice(2, "auto", "test"),
                          Governor(2, window=4, settle=2, probe_after=10_000), clock=lambda: now[0])
    try:
        def neighbour_arrives(count):
            now[0] += 0.050 if count >= 12 else 0.015

        gen = model.generate(PROMPTS[0], max_tokens=BUDGET, sampling=SAMPLING, seed=1, on_token=neighbour_arrives)
        assert gen.generated_tokens > 20
        record = model.describe()["threads"]
        assert [(c["from"], c["to"]) for c in record["changes"]] == [(2, 1)] and record["now"] == 1
        assert low_level.llama_n_threads(model.llama._ctx.ctx) == 1  # llama.cpp itself now runs 1 thread
    finally:
        model.close()
