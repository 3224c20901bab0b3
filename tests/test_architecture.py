"""The shape of the package (docs/architecture.md): wings with empty faces, a small root, short
functions, the exit-status table README copies, and extension points that take a new backend or
a new output with one registration and nothing else."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pytest

from dreamflow_cli.backend import registry
from dreamflow_cli.errors import ExitStatus
from dreamflow_cli.output import artifacts
from dreamflow_cli.output.artifacts import Made, Plain, Work
from tests.helpers.cli import invoke
from tests.helpers.fakes import FAKE_ENTRY

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dreamflow_cli"
MAX_ROOT_MODULES = 8
MAX_FUNCTION_LINES = 80


def test_the_root_holds_few_modules_and_every_wing_has_an_empty_face():
    assert len(list(PACKAGE.glob("*.py"))) <= MAX_ROOT_MODULES
    wings = [p for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
    assert len(wings) >= 8
    for wing in wings:
        assert (wing / "__init__.py").read_text() == "", f"{wing.name}/__init__.py must stay empty"


@pytest.mark.parametrize("tree", ["dreamflow_cli", "bench"])
def test_no_function_is_longer_than_80_lines(tree):
    long = []
    for path in (ROOT / tree).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_readme_lists_every_exit_status_and_no_other():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert listed == {int(status) for status in ExitStatus}


@pytest.fixture
def third_backend():
    registry.register(FAKE_ENTRY)
    yield FAKE_ENTRY
    registry.unregister(FAKE_ENTRY.name)


def test_a_third_backend_is_one_registration(runner, isolated, third_backend):
    result = invoke(runner, "generate", "a sleepy fox", "--backend", "fake", "--seed", "3", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    assert meta["backend"] == {"kind": "fake", "model": "fake"} and meta["model"]["source"] == "fake"
    assert len(summary["image_paths"]) == 3 and all(Path(p).is_file() for p in summary["image_paths"])
    doctor = invoke(runner, "doctor", "--backend", "fake", "--json")
    assert doctor.exit_code == 0, doctor.stderr
    names = [check["name"] for check in json.loads(doctor.stdout)["checks"]]
    assert "fake backend" in names and "model" not in names  # the fake's checks, not the local model's
    unknown = invoke(runner, "generate", "a sleepy fox", "--backend", "nowhere")
    assert unknown.exit_code == ExitStatus.USAGE and "backend accepts local or openai or fake" in unknown.stderr


@dataclass(frozen=True)
class Postcard(Plain):
    """A made-up output: one line to send to a grandparent (Plain: no checks, no memory to speak of)."""

    name: str = "postcard"
    phase: str = "writing a postcard"
    absent: Mapping[str, Any] = field(default_factory=lambda: {"postcard_path": None})

    def wanted(self, request, settings) -> bool:
        return bool(request.name)

    def produce(self, work: Work) -> Made:
        work.folder.write("postcard.txt", f"Tonight {work.request.name} heard {work.story.title}.\n".encode())
        return Made(files={"postcard": "postcard.txt"}, json={"postcard_path": "postcard.txt"},
                    metadata={"postcard": {"to": "Grandma"}})


@pytest.fixture
def extra_artifact():
    artifacts.register(Postcard())
    yield
    artifacts.unregister("postcard")


def test_a_new_output_is_one_registration(runner, isolated, third_backend, extra_artifact):
    result = invoke(runner, "generate", "a sleepy fox", "--backend", "fake", "--name", "Mia", "--no-images",
                    "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert Path(summary["postcard_path"]).read_text().startswith("Tonight Mia heard ")
    assert summary["image_paths"] == []  # not made: the key is there, empty
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    assert meta["files"]["postcard"] == "postcard.txt" and meta["postcard"] == {"to": "Grandma"}
    nameless = json.loads(invoke(runner, "generate", "a sleepy fox", "--backend", "fake", "--json").stdout)
    assert nameless["postcard_path"] is None  # not wanted for this story: null, never missing
