"""Where bundled templates and packs live: inside the wheel, or at the top of a checkout.

The wheel maps the checkout's top-level ``templates/`` and ``collectors/`` folders to
``ctxgrab/_data/``; an editable install or a plain checkout finds them two levels
above the package.
"""

from __future__ import annotations

import importlib
import sys
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

__all__ = ["bundled_dir", "plugin_dirs", "PACKS_GROUP"]

# Packages that ship packs and templates register a module under this group; its
# folder's `collectors/` and `templates/` are searched after the user's folders
# and before the bundled ones.
PACKS_GROUP = "ctxgrab.packs"

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def bundled_dir(name: str) -> Path:
    """The bundled ``templates`` or ``collectors`` (packs) folder."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} not found next to {_PACKAGE} (broken install?)")


@lru_cache(maxsize=None)
def plugin_dirs(name: str) -> tuple[Path, ...]:
    """``templates`` or ``collectors`` folders of packages registered under ``ctxgrab.packs``, by entry-point name."""
    found = []
    for ep in sorted(entry_points(group=PACKS_GROUP), key=lambda e: e.name):
        try:
            module = importlib.import_module(ep.value.partition(":")[0])
        except ImportError as e:
            print(f"ctxgrab: template/pack package {ep.name!r} ({ep.value}) cannot be imported: {e}", file=sys.stderr)
            continue
        folder = Path(module.__file__).resolve().parent / name  # type: ignore[arg-type]
        if folder.is_dir():
            found.append(folder)
    return tuple(found)
