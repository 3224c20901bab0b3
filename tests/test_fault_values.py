"""Hostile values (issue 13): every bad number, flag, environment variable or config file ends with
exit 2 and one line naming what was wrong and what is accepted, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamflow_cli.settings.keys import checked_number, number_range_text

from dreamflow_cli.settings.load import load_settings

from dreamflow_cli.settings.table import KEY_BY_NAME, PROFILE_VALUE_KEYS
from dreamflow_cli.settings.profiles import cap_threads
from dreamflow_cli.settings.profiles import MemoryMode, choose_profile
from dreamflow_cli.errors import ConfigError
from tests.helpers.cli import invoke
from tests.helpers.cli import assert_refused, nothing_written


# --- one number validator: flags, environment, config file ----------------------------------------

@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e400", "infinity"])
def test_the_number_check_refuses_non_finite_values(text):
    assert checked_number(text, float, 0, 2) is None
    assert checked_number(float(text), float, None, None) is None  # even without bounds


@pytest.mark.parametrize("value, kind, expected", [
    ("4.5", float, 4.5), (5, float, 5.0), ("  5 ", int, 5), (5, int, 5), (4, int, 4), (10, int, 10),
    ("5.0", int, None), (5.5, int, None), (True, int, None), ("five", int, None), (3, int, None),
    (11, int, None), ([5], int, None),
])
def test_the_number_check_types_and_bounds(value, kind, expected):
    assert checked_number(value, kind, 4, 10) == expected


def test_bounds_are_written_as_people_write_numbers():
    assert number_range_text(int, 128, 1 << 20) == "an integer from 128 to 1,048,576"
    assert number_range_text(float, 0, 2) == "a finite number from 0 to 2"
    assert number_range_text(float, 0.1, None) == "a finite number ≥ 0.1"


def test_nan_temperature_from_the_environment_is_refused(runner, isolated):
    result = invoke(runner, "generate", "a fox", env={"DREAMFLOW_TEMPERATURE": "nan"})
    assert_refused(result, 2, "DREAMFLOW_TEMPERATURE", "'nan'", "finite number from 0 to 2")
    assert nothing_written(isolated)


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf"])
def test_non_finite_numbers_in_the_config_file_are_refused(runner, isolated, literal):
    (isolated / "dreamflow.toml").write_text(f"temperature = {literal}\n")
    result = invoke(runner, "generate", "a fox")
    assert_refused(result, 2, "temperature", "finite number")
    with pytest.raises(ConfigError):
        load_settings()


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_doctor_reports_a_nan_setting_as_a_failed_config_check(runner, isolated):
    (isolated / "dreamflow.toml").write_text("top_p = nan\n")
    result = invoke(runner, "doctor", "--json")
    report = json.loads(result.stdout)  # valid JSON: no NaN anywhere
    config = next(c for c in report["checks"] if c["name"] == "config")
    assert config["status"] == "FAIL" and "top_p" in config["detail"]
    assert result.exit_code == 1  # doctor's documented "a check failed"


def test_every_float_key_refuses_nan_from_the_config_file(isolated):
    for key in (k for k in KEY_BY_NAME.values() if k.kind is float):
        (isolated / "dreamflow.toml").write_text(f"{key.name} = nan\n")
        with pytest.raises(ConfigError) as refused:
            load_settings()
        assert key.name in refused.value.message


def test_download_timeout_refuses_nan(runner, isolated):
    result = invoke(runner, "download-model", "--url", "http://127.0.0.1:9/m.gguf", "--timeout", "nan")
    assert_refused(result, 2, "--timeout", "invalid value nan")


# --- usage errors are one line, with the flags the user typed ------------------------------------

@pytest.mark.parametrize("args, fragments", [
    (["--ctx", "0"], ["--ctx", "from 128 to 1,048,576"]),
    (["--ctx", "2000000"], ["--ctx", "1,048,576"]),
    (["--batch", "0"], ["--batch"]),
    (["--max-tokens", "5"], ["--max-tokens", "from 32"]),
    (["--age", "200"], ["--age", "from 1 to 12"]),
    (["--scenes", "0"], ["--scenes", "from 1 to 8"]),
    (["--threads", "-3"], ["--threads"]),
    (["--seed", "-1"], ["--seed"]),
    (["--ctx", "abc"], ["--ctx", "--help"]),
    (["--no-such-flag"], ["--no-such-flag", "--help"]),
])
def test_out_of_range_and_malformed_options_are_one_line(runner, isolated, args, fragments):
    result = invoke(runner, "generate", "a fox", *args)
    assert_refused(result, 2, *fragments)
    assert "--n_ctx" not in result.stderr and "e+06" not in result.stderr and "╭" not in result.stderr
    assert nothing_written(isolated)


def test_a_missing_option_value_and_an_unknown_command_are_one_line(runner, isolated):
    assert_refused(invoke(runner, "generate", "a fox", "--age"), 2, "--age")
    assert_refused(invoke(runner, "tell-me-a-story"), 2, "tell-me-a-story")


def test_dir_that_is_a_file_is_one_line(runner, isolated):
    (isolated / "afile").write_text("x")
    result = invoke(runner, "download-model", "--dir", "afile")
    assert_refused(result, 2, "afile")
    assert (isolated / "afile").read_text() == "x"


# --- threads are capped at the core count --------------------------------------------------------

def test_cap_threads_is_a_pure_function():
    assert cap_threads(8, cores=2) == 2
    assert cap_threads(10000, cores=2) == 2
    assert cap_threads(1, cores=2) == 1
    assert cap_threads(3, cores=1) == 1


def test_a_forced_thread_count_is_capped_too():
    from dreamflow_cli.engine.threads import choose_threads

    assert choose_threads(cores=2, cap=2, others_busy=None, forced=10000).threads == 2


def test_choose_profile_caps_flags_and_config_and_records_the_request():
    profile = choose_profile(MemoryMode.STANDARD, cores=2, configured={"standard": {"n_threads": 9999}})
    assert profile.n_threads == 2 and profile.threads_capped_from == 9999
    assert choose_profile(MemoryMode.STANDARD, cores=2, flags={"n_threads": 8}).threads_capped_from == 8
    assert choose_profile(MemoryMode.STANDARD, cores=2, flags={"n_threads": 2}).threads_capped_from is None
    assert choose_profile(MemoryMode.STANDARD, cores=2).threads_capped_from is None  # the default is no request


def test_config_show_shows_the_capped_thread_count(runner, isolated, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    (isolated / "dreamflow.toml").write_text("[profile.standard]\nn_threads = 9999\n")
    result = invoke(runner, "config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["settings"]["profile.standard.n_threads"]["value"] == 2


def test_too_many_threads_run_capped_and_say_so(runner, isolated, models_dir, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    # 64, not 10000: were the cap ever lost, 10,000 real threads would take a shared machine down.
    result = invoke(runner, "generate", "a calm owl", "--models-dir", str(models_dir), "--threads", "64",
                    "--max-tokens", "40", "--seed", "3", "--no-images", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["profile"]["n_threads"] == 2
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    assert meta["profile"]["n_threads"] == 2 and meta["profile"]["threads_capped_from"] == 64
    assert meta["backend"]["threads"]["threads"] == 2  # what llama.cpp actually ran with
    assert "64 threads asked for" in result.stderr and "using 2" in result.stderr


# --- conflicting flags, config files that cannot be read -----------------------------------------

@pytest.mark.parametrize("explicit", ["--low-memory", "--standard"])
def test_auto_memory_with_an_explicit_profile_is_refused(runner, isolated, explicit):
    result = invoke(runner, "generate", "a fox", "--auto-memory", explicit)
    assert_refused(result, 2, "--auto-memory", explicit, "contradict")
    assert nothing_written(isolated)


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_non_utf8_config_file_is_a_usage_error(runner, isolated):
    (isolated / "dreamflow.toml").write_bytes(b"name = \"Zo\xe9\"\n")
    result = invoke(runner, "generate", "a fox")
    assert_refused(result, 2, "not UTF-8")
    doctor = invoke(runner, "doctor", "--json")
    report = json.loads(doctor.stdout)
    config = next(c for c in report["checks"] if c["name"] == "config")
    assert config["status"] == "FAIL" and "not UTF-8" in config["detail"]


def test_config_variable_pointing_at_a_directory_says_so(runner, isolated):
    (isolated / "conf").mkdir()
    result = invoke(runner, "config", "show", env={"DREAMFLOW_CONFIG": str(isolated / "conf")})
    assert_refused(result, 2, "is a directory", "DREAMFLOW_CONFIG")
    assert "does not exist" not in result.stderr


def test_config_symlink_loop_is_named_as_such(runner, isolated):
    loop = isolated / "loop.toml"
    loop.symlink_to(loop)
    result = invoke(runner, "config", "show", env={"DREAMFLOW_CONFIG": str(loop)})
    assert_refused(result, 2, "symbolic link loop")


def test_model_symlink_loop_is_named_as_such(runner, isolated):
    loop = isolated / "loop.gguf"
    loop.symlink_to(loop)
    result = invoke(runner, "generate", "a fox", "--model", str(loop))
    assert_refused(result, 3, "symbolic link loop")


def test_profile_value_keys_carry_the_engine_minimums():
    from dreamflow_cli.settings.profiles import MIN_CTX
    from dreamflow_cli.settings.profiles import MIN_STORY_TOKENS

    assert PROFILE_VALUE_KEYS["n_ctx"].low == MIN_CTX
    assert PROFILE_VALUE_KEYS["max_tokens"].low == MIN_STORY_TOKENS
    assert PROFILE_VALUE_KEYS["n_threads"].high is None  # any count: capped at the cores, not refused
