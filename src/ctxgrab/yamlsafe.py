"""YAML for files someone else may have written: bounded expansion, no duplicate keys.

Every YAML file ctxgrab reads (``ctxgrab.yaml``, settings files, packs, deploy files,
kubeconfigs) goes through :func:`safe_load`. It is PyYAML's safe loader (libyaml when
available) with three checks on the composed node graph before any Python object is
built:

- **Alias expansion is bounded.** Anchors and aliases share one node, so a "billion
  laughs" file (9 levels of 9 aliases: 387 million nodes once walked) is a few hundred
  nodes on disk. Code that walks the result (``${ENV}`` expansion, validation,
  flattening of settings) expands it and runs out of memory. The expanded size is
  counted with memoisation (linear in the distinct nodes) and refused above
  :data:`MAX_EXPANDED_NODES`, and a recursive alias (``&a [*a]``) is refused.
- **Nesting is bounded** at :data:`MAX_DEPTH` levels (Python code that walks a
  thousands-deep document hits ``RecursionError``).
- **Duplicate keys are refused**, naming the key and its line: YAML says keys are
  unique, and PyYAML silently keeps the last one, so a second ``timeout_s:`` further
  down a file would win without a word.

The errors are :class:`yaml.MarkedYAMLError` subclasses, so every caller that already
turns a YAML syntax error into a one-line message handles these too.

>>> safe_load("a: 1\\nb: [x, y]")
{'a': 1, 'b': ['x', 'y']}
>>> safe_load("a: 1\\na: 2")
Traceback (most recent call last):
...
ctxgrab.yamlsafe.UnsafeYAML: duplicate key 'a' (first on line 1)
  in "<unicode string>", line 2, column 1
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["safe_load", "UnsafeYAML", "MAX_EXPANDED_NODES", "MAX_DEPTH"]

#: Nodes a document may have once every alias is expanded. A large real config or Spring
#: settings file has a few thousand; the limit leaves room for heavy use of anchors.
MAX_EXPANDED_NODES = 200_000
#: Nesting levels (mappings and sequences inside each other).
MAX_DEPTH = 100

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class UnsafeYAML(yaml.MarkedYAMLError):
    """A YAML document refused for its shape (expansion, depth, duplicate keys), with the line."""

    def __init__(self, problem: str, mark: Any, fix: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.fix = fix


def safe_load(text: str | bytes) -> Any:
    """Parse one YAML document like :func:`yaml.safe_load`, with the checks above."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check(root: yaml.Node) -> None:
    """Expanded size, depth, cycles and duplicate keys, without recursion (deep files are input too)."""
    size: dict[int, int] = {}  # id(node) -> nodes in its expansion
    depth: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_stack.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_EXPANDED_NODES:
                raise UnsafeYAML(
                    f"refused: anchors and aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                    "(an alias bomb?)",
                    node.start_mark,
                    "write the values out, or use fewer nested aliases",
                )
            if depth[key] > MAX_DEPTH:
                raise UnsafeYAML(f"refused: nested more than {MAX_DEPTH} levels deep", node.start_mark, "flatten the file")
            continue
        if key in size:
            continue  # an alias to a node already measured
        if key in on_stack:
            raise UnsafeYAML("refused: recursive alias (a node that contains itself)", node.start_mark,
                             "remove the alias that points into its own anchor")
        if len(on_stack) > MAX_DEPTH:
            raise UnsafeYAML(f"refused: nested more than {MAX_DEPTH} levels deep", node.start_mark, "flatten the file")
        if isinstance(node, yaml.MappingNode):
            _no_duplicate_keys(node)
        on_stack.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node))


def _no_duplicate_keys(node: yaml.MappingNode) -> None:
    seen: dict[tuple[str, str], yaml.Node] = {}
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE_TAG:
            continue
        ident = (k.tag, k.value)
        if ident in seen:
            first = seen[ident].start_mark.line + 1
            raise UnsafeYAML(f"duplicate key {k.value!r} (first on line {first})", k.start_mark,
                             "keep one of the two (YAML keys are unique)")
        seen[ident] = k
