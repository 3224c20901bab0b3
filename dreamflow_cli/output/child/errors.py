"""What a media child's failure means to a parent or a script: one of dreamflow's own errors."""

from __future__ import annotations

from dreamflow_cli.errors import DreamflowError, ModelError, NoSpaceError, NotEnoughMemoryError
from dreamflow_cli.output.child.runner import ChildFailed


def child_error(failure: ChildFailed, what: str, hint: str, extra: str) -> DreamflowError:
    """``what``: the child's work in words ("the narrator (voice en-us-joe-medium)"); ``hint``: what
    to try when it crashed; ``extra``: the pip extra its packages come with ("voice", "video")."""
    if failure.kind == "disk":
        return NoSpaceError(f"no space left while {what} was writing: {failure.message}",
                            "free some space, or choose a folder on another disk with --out")
    if failure.kind == "memory" or failure.exit_code == -9:
        return NotEnoughMemoryError(f"{what} ran out of memory", hint)
    if failure.kind == "package":
        return ModelError(f"{what} cannot run here: {failure.message}", f"pip install 'dreamflow[{extra}]'")
    if failure.kind == "input":
        return ModelError(f"{what} could not read its input: {failure.message}", hint)
    return ModelError(f"{what} stopped unexpectedly ({failure.message})", hint)
