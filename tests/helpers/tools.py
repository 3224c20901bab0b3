"""System tools the real-component tests use (Chromium, poppler, epubcheck), installed by .ci/run
with apt. On a developer's machine without them those tests skip and say what to install; in CI
(CI=true) a missing tool fails the test, so a green run never hides a missing install step."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

EPUBCHECK_JAR = Path("/usr/share/java/epubcheck.jar")  # Debian's epubcheck


def need(name: str, package: str) -> str:
    """The path of the ``name`` command, or skip (fail in CI) naming the apt ``package``."""
    found = shutil.which(name)
    if found:
        return found
    missing = f"{name} is not installed (apt-get install {package})"
    if os.environ.get("CI"):
        pytest.fail(missing)
    pytest.skip(missing)


def need_epubcheck() -> list[str]:
    """The command that runs epubcheck: java on Debian's jar (its /usr/bin link needs binfmt)."""
    java = need("java", "default-jre-headless")
    if not EPUBCHECK_JAR.is_file():
        missing = "epubcheck is not installed (apt-get install epubcheck)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    return [java, "-jar", str(EPUBCHECK_JAR)]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return str(shutil.which(name))
    return need("chromium", "chromium")
