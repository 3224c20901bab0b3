"""Byte counts in words, written one way everywhere: messages, doctor, listings and the live display."""

from __future__ import annotations


def human_bytes(n: int | float | None) -> str:
    """Decimal units like disk and RAM makers use: "512 B", "190 MB", "3.1 GB"; "?" for unknown."""
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB", "MB") else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
