"""Settings precedence (defaults < config file < environment < flags) and `dreamflow config`."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from dreamflow_cli.settings.keys import keys_of, setting

from dreamflow_cli.settings.load import load_settings, user_config_dir

from dreamflow_cli.settings.table import DEFAULTS, KEY_BY_NAME, KEYS, Settings
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.settings.profiles import MemoryMode
from tests.helpers.cli import invoke


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_source(isolated):
    s = load_settings(env={})
    assert (s.low_memory, s.scenes, s.images, s.seed, s.model) == ("auto", 3, True, None, None)
    assert s.out_dir == Path("stories") and s.models_dir == Path("models")
    assert s.config_path is None
    assert set(s.sources.values()) == {"default"}


def test_each_layer_overrides_the_one_below(isolated):
    cfg = write(isolated / "dreamflow.toml", "scenes = 2\nlow_memory = true\nseed = 5\n")
    s = load_settings(env={})
    assert (s.scenes, s.low_memory, s.seed) == (2, MemoryMode.LOW_MEMORY, 5)
    assert s.sources["scenes"] == f"config file {cfg}"

    s = load_settings(env={"DREAMFLOW_SCENES": "4", "DREAMFLOW_LOW_MEMORY": "off"})
    assert (s.scenes, s.low_memory, s.seed) == (4, MemoryMode.STANDARD, 5)
    assert s.sources["scenes"] == "env DREAMFLOW_SCENES"

    s = load_settings({"scenes": 6, "low_memory": True}, env={"DREAMFLOW_SCENES": "4"})
    assert (s.scenes, s.low_memory) == (6, MemoryMode.LOW_MEMORY)
    assert s.sources["scenes"] == "flag" and s.sources["seed"].startswith("config file")


LOW, STANDARD = MemoryMode.LOW_MEMORY, MemoryMode.STANDARD


@pytest.mark.parametrize("word, expected", [("TRUE", LOW), ("Yes", LOW), ("on", LOW), ("1", LOW),
                                            ("false", STANDARD), ("NO", STANDARD), ("Off", STANDARD),
                                            ("0", STANDARD), ("Auto", MemoryMode.AUTO)])
def test_legacy_low_memory_mode_accepts_bool_words_in_any_case(word, expected):
    assert load_settings(env={"LOW_MEMORY_MODE": word}).low_memory is expected
    assert load_settings(env={"DREAMFLOW_LOW_MEMORY": word}).low_memory is expected


def test_dreamflow_variable_beats_the_legacy_one():
    s = load_settings(env={"LOW_MEMORY_MODE": "true", "DREAMFLOW_LOW_MEMORY": "false"})
    assert s.low_memory is MemoryMode.STANDARD and s.sources["low_memory"] == "env DREAMFLOW_LOW_MEMORY"
    s = load_settings(env={"LOCAL_MODEL_PATH": "/a.gguf", "DREAMFLOW_MODEL": "/b.gguf"})
    assert s.model == "/b.gguf"
    assert load_settings(env={"LOCAL_MODEL_PATH": "/a.gguf"}).model == "/a.gguf"


def test_invalid_environment_value_names_the_variable_and_the_accepted_words():
    with pytest.raises(ConfigError) as err:
        load_settings(env={"LOW_MEMORY_MODE": "maybe"})
    assert "LOW_MEMORY_MODE" in err.value.message and "'maybe'" in err.value.message
    assert "true" in err.value.hint and "off" in err.value.hint
    with pytest.raises(ConfigError) as err:
        load_settings(env={"DREAMFLOW_SCENES": "12"})
    assert "DREAMFLOW_SCENES" in err.value.message and "from 1 to 8" in err.value.hint


def test_invalid_config_file_names_key_value_and_accepted(isolated):
    write(isolated / "dreamflow.toml", 'scenes = "three"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(env={})
    assert "scenes" in err.value.message and "'three'" in err.value.message and "integer" in err.value.hint
    write(isolated / "dreamflow.toml", "sceens = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(env={})
    assert "sceens" in err.value.message and "scenes" in err.value.hint
    write(isolated / "dreamflow.toml", "scenes = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={})


def test_profile_tables_in_the_config_file(isolated):
    write(isolated / "dreamflow.toml", "[profile.low_memory]\nn_ctx = 384\nrepack = true\n")
    s = load_settings(env={})
    assert dict(s.profile_config["low_memory"]) == {"n_ctx": 384, "repack": True}
    write(isolated / "dreamflow.toml", "[profile.standard]\nn_cxt = 384\n")
    with pytest.raises(ConfigError, match="profile.standard.n_cxt"):
        load_settings(env={})


def test_config_file_lookup_order(isolated, tmp_path):
    user = write(user_config_dir() / "config.toml", "scenes = 1\n")
    assert load_settings(env=dict(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(user.parent.parent))).scenes == 1
    local = write(isolated / "dreamflow.toml", "scenes = 2\n")
    assert load_settings().config_path == local
    named = write(tmp_path / "named.toml", "scenes = 5\n")
    assert load_settings(env={"DREAMFLOW_CONFIG": str(named)}).scenes == 5
    explicit = write(tmp_path / "explicit.toml", "scenes = 7\n")
    assert load_settings(config_path=explicit, env={"DREAMFLOW_CONFIG": str(named)}).scenes == 7
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"DREAMFLOW_CONFIG": str(tmp_path / "missing.toml")})


def test_user_config_dir_per_platform(tmp_path):
    env = {"HOME": "/h", "APPDATA": "C:/Users/k/AppData/Roaming", "XDG_CONFIG_HOME": "/x"}
    assert user_config_dir(env, "linux") == Path("/x/dreamflow")
    assert user_config_dir({"HOME": "/h"}, "linux") == Path("/h/.config/dreamflow")
    assert user_config_dir(env, "darwin") == Path("/h/Library/Application Support/dreamflow")
    assert user_config_dir(env, "win32") == Path("C:/Users/k/AppData/Roaming/dreamflow")


def test_config_init_writes_once_and_needs_force_to_replace(runner, isolated):
    result = invoke(runner, "config", "init")
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == user_config_dir() / "config.toml"
    data = tomllib.loads(path.read_text())
    assert data["scenes"] == 3 and data["profile"]["standard"]["n_ctx"] == 1024
    assert data["profile"]["low_memory"]["repack"] is False
    path.write_text("scenes = 2\n")

    again = invoke(runner, "config", "init")
    assert again.exit_code == 2
    assert again.stdout == ""
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert path.read_text() == "scenes = 2\n"  # untouched

    forced = invoke(runner, "config", "init", "--force")
    assert forced.exit_code == 0
    assert tomllib.loads(path.read_text())["scenes"] == 3
    assert load_settings().scenes == 3  # the starter file is itself valid


def test_config_show_reports_values_and_sources(runner, isolated):
    write(isolated / "dreamflow.toml", "scenes = 2\n[profile.low_memory]\nn_ctx = 256\n")
    result = invoke(runner, "config", "show", "--json", "--low-memory", env={"DREAMFLOW_SEED": "9"})
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["profile"] == "low-memory"
    assert shown["settings"]["scenes"] == {"value": 2, "source": f"config file {isolated / 'dreamflow.toml'}"}
    assert shown["settings"]["seed"] == {"value": 9, "source": "env DREAMFLOW_SEED"}
    assert shown["settings"]["low_memory"]["source"] == "flag"
    assert shown["settings"]["profile.low_memory.n_ctx"]["value"] == 256


def test_bad_environment_value_is_a_one_line_usage_error(runner, isolated):
    result = invoke(runner, "generate", "a fox", env={"DREAMFLOW_LOW_MEMORY": "perhaps"})
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DREAMFLOW_LOW_MEMORY" in lines[0] and "Traceback" not in result.stderr


EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_the_example_config_is_valid_and_states_the_defaults(isolated):
    s = load_settings(config_path=EXAMPLE, env={})
    for key in KEYS:
        assert getattr(s, key.name) == getattr(DEFAULTS, key.name), key.name
    from dreamflow_cli.settings.profiles import defaults_by_table

    for profile, values in defaults_by_table().items():
        assert dict(s.profile_config[profile]) == dict(values)


def test_the_example_config_lists_exactly_the_keys_of_the_table():
    text = EXAMPLE.read_text(encoding="utf-8")
    top_level = text.split("\n[", 1)[0]  # the [profile.*] tables follow the keys
    listed = re.findall(r"^(#\s*)?([a-z_]+)\s*=", top_level, re.MULTILINE)
    assert sorted(name for _, name in listed) == sorted(k.name for k in KEYS)
    data = tomllib.loads(text)
    for commented, name in listed:
        key = KEY_BY_NAME[name]
        if key.default is None:  # TOML has no null: an unset key is shown commented out
            assert commented and name not in data, name
        else:
            assert not commented and key.coerce(data[name], name) == key.default, name


def test_the_settings_table_is_the_settings_fields():
    assert [k.name for k in KEYS] == [f.name for f in fields(Settings) if f.name in KEY_BY_NAME]
    assert {f.name for f in fields(Settings)} - set(KEY_BY_NAME) == {"profile_config", "profile_flags",
                                                                       "config_path", "sources"}
    assert (KEY_BY_NAME["seed"].kind, KEY_BY_NAME["seed"].default) == (int, None)
    assert (KEY_BY_NAME["models_dir"].kind, KEY_BY_NAME["guard_extra_terms"].kind) == (Path, tuple)
    assert KEY_BY_NAME["model"].env == ("DREAMFLOW_MODEL", "LOCAL_MODEL_PATH")
    assert all(k.doc for k in KEYS)


def test_adding_a_key_is_one_line(isolated):
    @dataclass(frozen=True)
    class More(Settings):
        bedtime: str | None = setting(None, "DREAMFLOW_BEDTIME", choices=("early", "late"), doc="When.")

    key = keys_of(More)[-1]
    assert (key.name, key.kind, key.default, key.env, key.doc) == ("bedtime", str, None, ("DREAMFLOW_BEDTIME",), "When.")
    assert key.coerce(" Late", "here") == "late"
    with pytest.raises(ConfigError) as err:
        key.coerce("noon", "here")
    assert "'noon'" in err.value.message and "early, late" in err.value.hint


def test_guard_keys_from_file_and_environment(isolated):
    write(isolated / "dreamflow.toml", 'guard_level = "strict"\nguard_extra_terms = ["moon", "owl"]\n')
    s = load_settings(env={})
    assert s.guard_level == "strict" and s.guard_extra_terms == ("moon", "owl")
    s = load_settings(env={"DREAMFLOW_GUARD_EXTRA_TERMS": "thunder, storm", "DREAMFLOW_GUARD_RETRIES": "0"})
    assert s.guard_extra_terms == ("thunder", "storm") and s.guard_retries == 0
    write(isolated / "dreamflow.toml", "guard_extra_terms = [1, 2]\n")
    with pytest.raises(ConfigError, match="guard_extra_terms"):
        load_settings(env={})


def test_flag_help_states_the_defaults_of_the_table(runner):
    from dreamflow_cli.cli.options import default_help

    assert [default_help(k) for k in ("scenes", "images", "out_dir", "low_memory")] == [
        "\\[default: 3]", "\\[default: on]", "\\[default: ./stories]", "\\[default: auto]"]
    result = invoke(runner, "generate", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Scenes and pictures (1-8) [default: 3]." in result.stdout
    assert "Output folder [default: ./stories]." in result.stdout
