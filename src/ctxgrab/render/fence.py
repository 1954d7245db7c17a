"""Fencing untrusted text so that its content cannot close the block or steer the model.

>>> print(fence("a ``` b"))
````text
a ``` b
````
"""

from __future__ import annotations

import re

__all__ = ["fence", "clean"]

# C0/C1 controls except tab and newline, and ANSI escape sequences.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Zero-width and bidirectional-override characters.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def clean(text: str) -> str:
    """Remove ANSI escapes; make control, zero-width and bidi characters visible as ``\\uXXXX``."""
    text = _ANSI.sub("", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def fence(text: str, lang: str = "text") -> str:
    """A fenced block longer than any backtick run inside ``text``."""
    body = clean(str(text)).rstrip("\n")
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}{lang}\n{body}\n{bar}"
