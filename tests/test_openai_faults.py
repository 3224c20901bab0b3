"""The openai backend against a scripted server: every fault a real server rarely produces.
127.0.0.1 only; each test is bounded by short timeouts and few retries."""

from __future__ import annotations

import email.utils
import threading
import time

import pytest

from dreamflow_cli.backend.seam import Prompt
from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.errors import ConfigError, DreamflowError, ModelError, UsageError
from dreamflow_cli.server import backend as server_backend
from dreamflow_cli.server.backend import open_openai_backend
from tests.helpers.scripted_server import STORY_WORDS, ScriptedServer

KEY = "sk-test-DO-NOT-LEAK-7f3a"
SAMPLING = {"temperature": 0.6, "top_p": 0.9}
PROMPT = Prompt("You tell stories.", "Write a story about a moon.", "One starry night, Mia")


def _settings(*urls: str, **extra):
    flags = {"backend": "openai", "base_url": ",".join(urls), "server_timeout": 2.0, "server_retries": 1}
    flags.update(extra)
    return load_settings(flags)


def _open(*servers: ScriptedServer, key: str | None = KEY, notices: list[str] | None = None,
          pauses: list[float] | None = None, **extra):
    """``pauses``: record the backend's waits between attempts instead of sleeping them (its
    clock then stands still, so a Retry-After of 7 s is a pause of exactly 7 s)."""
    env = {"DREAMFLOW_API_KEY": key} if key else {}
    timing = {} if pauses is None else {"sleep": lambda s: pauses.append(s) and False, "clock": lambda: 1000.0}
    return open_openai_backend(_settings(*(s.url for s in servers), **extra), env=env,
                               on_notice=None if notices is None else notices.append, **timing)


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def other():
    with ScriptedServer() as s:
        yield s


def test_a_story_streams_and_the_echoed_opening_is_removed(server):
    backend = _open(server)
    counts: list[int] = []
    gen = backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=7, on_token=counts.append)
    assert gen.text == " " + " ".join(STORY_WORDS)
    assert gen.finish_reason == "stop" and gen.endpoint == server.url
    assert gen.usage == {"prompt_tokens": 50, "completion_tokens": len(STORY_WORDS) + 1,
                         "total_tokens": 50 + len(STORY_WORDS) + 1}
    assert gen.prompt_tokens == 50 and gen.generated_tokens == len(STORY_WORDS)  # the server's count less the echo
    assert counts == list(range(1, len(STORY_WORDS) + 2))
    body = server.chat_requests()[0]["body"]
    assert (body["model"], body["seed"], body["stream"], body["temperature"]) == ("tiny-story", 7, True, 0.6)
    assert body["stream_options"] == {"include_usage": True}
    assert server.chat_requests()[0]["authorization"] == f"Bearer {KEY}"
    assert backend.describe() == {"kind": "openai", "endpoints": [server.url], "server_model": "tiny-story",
                                  "max_parallel": 2, "servers": {server.url: {"asked": 2, "limit": 2}},
                                  "token_counts": "server usage when reported, else estimated"}
    assert KEY not in repr(backend) and KEY not in repr(backend.client)


def test_budget_runs_out_reports_length(server):
    gen = _open(server).generate(PROMPT, max_tokens=5, sampling=SAMPLING, seed=1)
    assert gen.finish_reason == "length"


def test_a_reply_that_ignores_the_opening_keeps_to_the_budget(server):
    server.script.echo_prefix = False  # the server was given room for an echo it does not write
    gen = _open(server).generate(PROMPT, max_tokens=5, sampling=SAMPLING, seed=1)
    assert gen.text == " " + " ".join(STORY_WORDS[1:6]) and gen.generated_tokens == 5  # "Mia" read as the echo
    assert gen.finish_reason == "length"


def test_wrong_key_is_a_clear_config_error_without_the_key(server):
    server.script.mode = "401"
    with pytest.raises(ConfigError) as info:
        _open(server)
    assert "refused the API key" in info.value.message and "DREAMFLOW_API_KEY" in info.value.hint
    assert KEY not in info.value.message + info.value.hint


def test_key_refused_mid_run_stops_at_once(server):
    backend = _open(server)
    server.script.mode = "401"
    with pytest.raises(ConfigError):
        backend.generate(PROMPT, max_tokens=50, sampling=SAMPLING, seed=1)
    assert len(server.chat_requests()) == 1  # no retries: the key will not get better


def test_unknown_model_lists_what_the_server_offers(server):
    server.script.models = ("llama3", "qwen")
    with pytest.raises(ModelError) as info:
        _open(server, model="tiny-story")
    assert "does not serve a model called 'tiny-story'" in info.value.message
    assert "llama3, qwen" in info.value.message


def test_several_models_and_none_named(server):
    server.script.models = ("llama3", "qwen")
    with pytest.raises(UsageError) as info:
        _open(server)
    assert "--model" in info.value.hint and "llama3, qwen" in info.value.hint


def test_404_at_chat_time_is_not_retried(server):
    backend = _open(server)
    server.script.mode = "404"
    with pytest.raises(ModelError) as info:
        backend.generate(PROMPT, max_tokens=50, sampling=SAMPLING, seed=1)
    assert "does not exist" in info.value.message and len(server.chat_requests()) == 1


def test_500_fails_after_bounded_retries(server):
    pauses: list[float] = []
    backend = _open(server, server_retries=2, pauses=pauses)
    server.script.mode = "500"
    with pytest.raises(ModelError) as info:
        backend.generate(PROMPT, max_tokens=50, sampling=SAMPLING, seed=1)
    assert "after 3 attempts" in info.value.message and "HTTP 500" in info.value.message
    assert len(server.chat_requests()) == 3
    assert pauses == [server_backend.BACKOFF_SECONDS, 2 * server_backend.BACKOFF_SECONDS]  # backing off


def test_one_500_then_the_same_server_recovers(server, monkeypatch):
    # The backoff is really waited here (the backend's own sleep), made short for the test.
    monkeypatch.setattr(server_backend, "BACKOFF_SECONDS", 0.05)
    notices: list[str] = []
    backend = _open(server, notices=notices)
    server.script.mode, server.script.fail_times = "500", 1
    gen = backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert gen.text.startswith(" Mia walked") and len(server.chat_requests()) == 2
    assert len(notices) == 1 and "HTTP 500" in notices[0]


@pytest.mark.parametrize("mode, words", [("500", "HTTP 500"), ("cut", "cut the stream"),
                                         ("malformed", "malformed JSON"), ("html", "not a stream"),
                                         ("hang", "did not answer within")])
def test_a_failing_server_hands_the_story_to_the_other(server, other, mode, words):
    notices: list[str] = []
    backend = _open(server, other, notices=notices, server_timeout=0.5)
    server.script.mode, server.script.hang_seconds = mode, 2.0
    gen = backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert gen.endpoint == other.url and gen.text.startswith(" Mia walked")
    assert len(server.chat_requests()) == 1 and len(other.chat_requests()) == 1
    assert len(notices) == 1 and words in notices[0] and "another server" in notices[0]
    # the failed server is left alone for a while: the next story goes straight to the other
    backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=2)
    assert len(server.chat_requests()) == 1 and len(other.chat_requests()) == 2


def test_a_whole_json_reply_is_used(server):
    server.script.mode = "json"
    gen = _open(server).generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert gen.text.startswith(" Mia walked") and gen.finish_reason == "stop"


def test_a_server_refusing_stream_options_is_asked_again_without(server):
    server.script.mode = "usage-refused"
    backend = _open(server)
    gen = backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert gen.usage is None and gen.generated_tokens == len(STORY_WORDS)  # the echoed opening is not counted
    assert [("stream_options" in r["body"]) for r in server.chat_requests()] == [True, False]
    backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert "stream_options" not in server.chat_requests()[-1]["body"]


def test_nobody_answering_at_start_is_a_model_error():
    with ScriptedServer() as gone:
        url = gone.url
    with pytest.raises(ModelError) as info:
        open_openai_backend(_settings(url), env={})
    assert "refused the connection" in info.value.message and "--base-url" in info.value.hint


def test_a_dead_server_at_start_is_skipped(server):
    with ScriptedServer() as gone:
        dead = gone.url
    notices: list[str] = []
    backend = open_openai_backend(_settings(dead, server.url), env={}, on_notice=notices.append)
    gen = backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert gen.endpoint == server.url and len(notices) == 1 and dead in notices[0]


def test_a_raising_token_callback_propagates_and_the_backend_stays_usable(server):
    backend = _open(server)

    def stop(count: int) -> None:
        if count == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1, on_token=stop)
    assert backend.in_flight() == 0
    assert backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1).text.startswith(" Mia")


def test_close_stops_a_story_in_progress(server):
    server.script.token_delay = 0.2
    backend = _open(server, server_timeout=10)
    errors: list[BaseException] = []
    streaming = threading.Event()  # set at the first token: the story is in progress, not queued

    def run() -> None:
        try:
            backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1, on_token=lambda n: streaming.set())
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert streaming.wait(timeout=10)
    backend.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], DreamflowError) and "stopped" in errors[0].message
    assert len(server.chat_requests()) == 1  # not retried


# --- Retry-After (429, 503): waited when short, the attempt failed when too long --------------

@pytest.mark.parametrize("status", ["429", "503"])
def test_a_short_retry_after_is_waited_then_the_same_server_is_asked_again(server, status):
    notices: list[str] = []
    pauses: list[float] = []
    backend = _open(server, notices=notices, pauses=pauses)
    server.script.mode, server.script.fail_times, server.script.retry_after = status, 1, "7"
    gen = backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert gen.text.startswith(" Mia walked") and len(server.chat_requests()) == 2
    assert pauses == [7.0]  # not the 0.5 s backoff
    assert len(notices) == 1 and f"HTTP {status}" in notices[0] and "wait 7 s" in notices[0]


def test_a_retry_after_date_is_waited_until_that_time(server):
    pauses: list[float] = []
    backend = _open(server, pauses=pauses)
    server.script.mode, server.script.fail_times = "503", 1
    server.script.retry_after = email.utils.formatdate(time.time() + 20, usegmt=True)
    backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert len(pauses) == 1 and 10 < pauses[0] <= 20  # whole seconds in the header; wide on purpose


def test_a_retry_after_past_the_cap_fails_the_story_without_waiting(server):
    pauses: list[float] = []
    notices: list[str] = []
    backend = _open(server, pauses=pauses, notices=notices, server_retries=3)
    server.script.mode, server.script.retry_after = "429", "3600"
    with pytest.raises(ModelError) as info:
        backend.generate(PROMPT, max_tokens=50, sampling=SAMPLING, seed=1)
    assert len(server.chat_requests()) == 1 and pauses == [] and notices == []  # not asked again
    assert "after 1 attempt;" in info.value.message and "HTTP 429" in info.value.message
    assert "3600 s" in info.value.message and "30 s at most" in info.value.message
    assert info.value.exit_code == 3 and "server_retries" in info.value.hint  # the usual error


def test_a_retry_after_past_the_cap_hands_the_story_to_the_other_server(server, other):
    pauses: list[float] = []
    notices: list[str] = []
    backend = _open(server, other, pauses=pauses, notices=notices)
    server.script.mode, server.script.retry_after = "503", "600"
    gen = backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=1)
    assert gen.endpoint == other.url and pauses == []
    assert len(notices) == 1 and "600 s" in notices[0] and "another server" in notices[0]
    backend.generate(PROMPT, max_tokens=200, sampling=SAMPLING, seed=2)  # the next story: the other
    assert len(server.chat_requests()) == 1 and len(other.chat_requests()) == 2
