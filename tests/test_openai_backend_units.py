"""Fast tests of the openai backend's decisions: model choice, backend name, parallel default,
backoff, the server profile."""

from __future__ import annotations

import pytest

from dreamflow_cli.errors import ConfigError, ModelError, UsageError
from dreamflow_cli.backend import registry
from dreamflow_cli.server.backend import backoff_seconds, default_parallel, pick_model, server_profile

# --- choices ----------------------------------------------------------------------------------

def test_pick_model_named_must_be_served_everywhere():
    assert pick_model("m", {"http://a": ["m", "n"], "http://b": None}) == "m"
    with pytest.raises(ModelError) as info:
        pick_model("x", {"http://a": ["m", "n"]})
    assert "offers: m, n" in info.value.message and "--model" in info.value.hint


def test_pick_model_accepts_an_ollama_tag_left_out():
    assert pick_model("llama3.2", {"http://localhost:11434/v1": ["llama3.2:latest", "qwen2.5:0.5b"]}) == "llama3.2"
    with pytest.raises(ModelError):
        pick_model("qwen2.5", {"http://localhost:11434/v1": ["qwen2.5:0.5b"]})  # a tag other than latest


def test_pick_model_unnamed_uses_the_only_one():
    assert pick_model(None, {"http://a": ["m"], "http://b": ["m", "z"]}) == "m"
    with pytest.raises(UsageError) as info:
        pick_model(None, {"http://a": ["m", "n"]})
    assert "m, n" in info.value.hint


def test_backend_names_and_defaults():
    assert registry.get("OpenAI").name == "openai"
    with pytest.raises(ConfigError) as info:
        registry.get("cloud")
    assert "local or openai" in info.value.hint
    assert default_parallel(3) == 6
    assert [backoff_seconds(n) for n in (1, 2, 3, 10)] == [0.5, 1.0, 2.0, 8.0]


def test_server_profile_precedence():
    assert (server_profile({}, {}).n_ctx, server_profile({}, {}).max_tokens) == (2048, 256)
    p = server_profile({"standard": {"n_ctx": 4096, "max_tokens": 100}}, {"max_tokens": 64})
    assert (p.name, p.n_ctx, p.max_tokens, p.n_threads) == ("server", 4096, 64, 0)
    with pytest.raises(ConfigError):
        server_profile({}, {"n_ctx": 16})


def test_continuation_budget_counts_pieces_after_the_echo():
    from dreamflow_cli.server.backend import continuation_budget

    parts = ["One", " night", ",", " Mia", " ran", " home", "."]
    echo = len("One night, Mia")
    assert continuation_budget(parts, echo, 10) == (len("One night, Mia ran home."), 3, False)
    assert continuation_budget(parts, echo, 2) == (len("One night, Mia ran home"), 2, True)
    assert continuation_budget(parts, 0, 3) == (len("One night,"), 3, True)


def test_live_line_shows_the_server_instead_of_our_memory():
    from dreamflow_cli.run.monitor import Status
    from dreamflow_cli.cli.ui import status_line

    line = status_line(Status(phase="writing story", tokens=3, max_tokens=10, server="2 servers")).plain
    assert "2 servers" in line and "RSS" not in line and "tokens 3/10" in line
    assert "RSS" in status_line(Status(phase="writing story")).plain


def test_a_story_written_in_two_calls_records_both_usages():
    from dreamflow_cli.backend.seam import Generation
    from dreamflow_cli.story.composer import _combine

    def gen(usage):
        return Generation("x", 10, 5, 5, 1.0, 0.1, "length", usage=usage, endpoint="http://h:1/v1")

    both = _combine(gen({"prompt_tokens": 10, "completion_tokens": 5, "model": "m"}),
                    gen({"prompt_tokens": 30, "completion_tokens": 4}), 12)
    assert both.usage == {"prompt_tokens": 40, "completion_tokens": 9, "model": "m"}
    assert both.generated_tokens == 10 and both.endpoint == "http://h:1/v1"
    assert _combine(gen(None), gen(None), 12).usage is None
