"""The analysis commands (``gc``, ``heap``, ``logs``, ``redact``, ``change``, ``serve``, ``mcp``),
one module each, registered on the CLI by ``cli.py``; and what they share."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..evidence import Evidence

__all__ = ["Format", "render_section"]


class Format(str, Enum):
    """``--format`` of every command."""

    markdown = "markdown"
    json = "json"


def render_section(ev: "Evidence") -> str:
    """The prompt's section for one evidence item (``templates/sections/KIND.md.j2``), on its own."""
    from ..render import environment

    return environment().get_template(f"sections/{ev.kind}.md.j2").render(ev=ev)
