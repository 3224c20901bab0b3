"""`dreamflow characters add | list | remove`: the saved characters stories bring in with
`generate --with NAME` (stored by dreamflow_cli/cast/store.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamflow_cli.cli import options
from dreamflow_cli.cli.ui import Output

characters_app = typer.Typer(help="Save characters who come back in stories (generate --with NAME).",
                             no_args_is_help=True)


@characters_app.command("add")
def characters_add(
    name: str = typer.Argument(..., help="What the character is called, e.g. Pip."),
    kind: str = typer.Option(..., "--kind", metavar="KIND", help="What it is, e.g. dragon or \"little grey rabbit\" (pictures draw it)."),
    traits: Optional[list[str]] = typer.Option(None, "--trait", metavar="TEXT", help="What it is like, e.g. \"counts the stars\"; "
                                                                     "repeat for more."),
    replace: bool = typer.Option(False, "--replace", help="Change a character already saved under this name."),
    quiet: bool = options.QUIET,
    config: Optional[Path] = options.CONFIG,
) -> None:
    """Save a character (refused, never cleaned, when its words could not go into a story)."""
    from dreamflow_cli.cast import store
    from dreamflow_cli.cast.characters import character
    from dreamflow_cli.errors import ContentBlockedError
    from dreamflow_cli.settings.load import load_settings
    from dreamflow_cli.story.guard import describe
    from dreamflow_cli.story.request import guard_from_settings

    new = character(name, kind, traits or ())
    guard = guard_from_settings(load_settings({}, config_path=config))
    found = guard.find_in_request(" ".join((new.name, new.kind, *new.traits)))
    if found:
        raise ContentBlockedError(f"{new.name} has words not allowed in a bedtime story: {describe(found)}",
                                  f"describe a gentle character instead; the blocked words depend on guard_level "
                                  f"(now {guard.level!r}) and guard_extra_terms in the config")
    path = store.add(new, replace=replace)
    Output.detect(quiet=quiet).note(f"Saved {new.name} the {new.kind} in {path}")


@characters_app.command("list")
def characters_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
    quiet: bool = options.QUIET,
) -> None:
    """Show the saved characters: one a line (or a JSON list)."""
    from dreamflow_cli.cast import store

    output = Output.detect(as_json=as_json, quiet=quiet)
    saved = store.load()
    if output.as_json:
        output.emit([c.as_dict() for c in saved])
        return
    for one in saved:
        traits = f": {'; '.join(one.traits)}" if one.traits else ""
        output.result_line(f"{one.name} ({one.kind}){traits}")
    if not saved:
        output.note('No saved characters yet: dreamflow characters add Pip --kind dragon --trait "counts the stars"')


@characters_app.command("remove")
def characters_remove(
    name: str = typer.Argument(..., help="The saved character to forget."),
    quiet: bool = options.QUIET,
) -> None:
    """Forget a saved character (stories already written keep it)."""
    from dreamflow_cli.cast import store

    gone = store.remove(name)
    Output.detect(quiet=quiet).note(f"Removed {gone.name} the {gone.kind}")
