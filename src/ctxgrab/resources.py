"""Where bundled templates and packs live: inside the wheel, or at the top of a checkout.

The wheel maps the checkout's top-level ``templates/`` and ``collectors/`` folders to
``ctxgrab/_data/``; an editable install or a plain checkout finds them two levels
above the package.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

__all__ = ["bundled_dir"]

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def bundled_dir(name: str) -> Path:
    """The bundled ``templates`` or ``collectors`` (packs) folder."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} not found next to {_PACKAGE} (broken install?)")
