"""``stellwerk demo``: the main job on one machine (filled in below)."""

from __future__ import annotations

__all__ = ["demo_main"]


def demo_main() -> int:
    """Run the demo; returns the exit code."""
    raise NotImplementedError("demo is being written")
