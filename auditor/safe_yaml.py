"""YAML that cannot explode: alias bombs, recursive anchors and runaway nesting are refused.

PyYAML shares an aliased node instead of copying it, so a 400-byte "billion laughs" document
loads instantly — and then hangs whoever walks the data (or copies it: gigabytes). Every YAML
mlaudit reads, the user's config and answers as much as audited files, is composed first and its
size *as if every alias were expanded* is counted before anything is built; a document over the
bound, or one that contains itself, is refused with a YAMLError that names the line of the
offending alias, so every caller's existing `except yaml.YAMLError` handles it.
"""

from __future__ import annotations

from typing import Any

import yaml

#: a document may expand to this many nodes whatever its size ...
MIN_EXPANDED = 50_000
#: ... and to this many times its own distinct nodes (anchors reused a few times stay well under)
MAX_RATIO = 10


class ExpansionError(yaml.MarkedYAMLError):
    """A document whose aliases expand beyond the bound, or that contains itself."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _distinct(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(_children(node))
    return len(seen)


def check_expansion(root: yaml.Node) -> None:
    """Raise ExpansionError when `root` expands beyond the bound or contains itself. Linear in
    the distinct nodes: each node's expanded size is computed once, bottom-up, without recursion."""
    bound = max(MIN_EXPANDED, MAX_RATIO * _distinct(root))
    sizes: dict[int, int] = {}
    path: set[int] = set()  # the nodes being expanded: the current node's ancestors
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            path.discard(key)
            size = 1 + sum(sizes[id(c)] for c in _children(node))
            if size > bound:
                raise ExpansionError(
                    problem=f"aliases expand to more than {bound:,} values (a YAML alias bomb?); refused",
                    problem_mark=node.start_mark,
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in path:
                raise ExpansionError(problem="an alias refers to a value that contains it; refused",
                                     problem_mark=child.start_mark)
            if id(child) not in sizes:
                stack.append((child, False))


def may_alias(text: Any) -> bool:
    """Whether a YAML input could hold an alias: an alias names an anchor (`&name`), so a text
    without `&` composes to a tree in which every node appears once — it cannot expand beyond
    itself nor contain itself, and needs no check. Streams are always checked."""
    if isinstance(text, str):
        return "&" in text
    if isinstance(text, bytes):
        return b"&" in text
    return True


def guarded(loader_cls: type) -> type:
    """A subclass of the PyYAML loader `loader_cls` (pure or C) that checks every document
    (every document of a text that could hold an alias: see `may_alias`)."""

    class Guarded(loader_cls):  # type: ignore[misc, valid-type]
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._may_alias = may_alias(stream)

        def get_single_data(self) -> Any:
            node = self.get_single_node()
            if node is None:
                return None
            if self._may_alias:
                check_expansion(node)
            return self.construct_document(node)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{loader_cls.__name__}"
    return Guarded


SafeLoader: Any = guarded(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def compose(text: str, loader_cls: type = SafeLoader) -> yaml.Node | None:
    """The checked node tree of a one-document YAML text (None when empty)."""
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is not None and may_alias(text):
            check_expansion(node)
        return node
    except RecursionError:
        raise yaml.YAMLError("nested too deeply to be read") from None
    finally:
        loader.dispose()


def construct(node: yaml.Node | None, loader_cls: type = SafeLoader) -> Any:
    """Python data from a node `compose` returned (checked already)."""
    if node is None:
        return None
    loader = loader_cls("")
    try:
        return loader.construct_document(node)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply to be read") from None
    finally:
        loader.dispose()


def safe_load(text: str, loader_cls: type = SafeLoader) -> Any:
    """`yaml.safe_load` with the expansion check (and deep nesting as a YAMLError)."""
    return construct(compose(text, loader_cls), loader_cls)
