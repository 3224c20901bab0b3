"""dreamflow: calm, child-safe bedtime stories from a small local language model."""

__version__ = "0.1.0"
