"""How a setting may be printed (`config show`, `doctor`, story.json): credentials never.

API keys are shown only as set or not; URLs lose any user:password@ part.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def public_url(text: str) -> str:
    """``text`` without any user:password@ part, for messages and story.json."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return "<invalid URL>"
    if "@" not in parts.netloc:
        return text.strip() if "@" not in text else "<invalid URL>"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))


# Environment variables whose values are credentials: shown only as set or not.
SECRET_ENV = ("DREAMFLOW_API_KEY", "OPENAI_API_KEY")


def shown_setting(name: str, value: object) -> object:
    """A setting or environment value as it may be printed: keys hidden, URLs without passwords."""
    if name.upper() in SECRET_ENV:
        return "(set, not shown)"
    if name in ("base_url", "DREAMFLOW_BASE_URL"):
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, (list, tuple)):
            shown = [public_url(str(v)) for v in items]
            return ",".join(shown) if isinstance(value, str) else tuple(shown)
    return value
