"""YAML a user hands lmladder (a frontier preset, a sweep job's .hydra/*.yaml), measured before it is built.

PyYAML builds an alias (*name) as a second reference to its anchor's value, so a "billion laughs" (ten aliases of
ten aliases of ...) stays small in PyYAML, but anything that copies the tree (OmegaConf, json.dumps, a plan)
expands it: 404 bytes became 10^5-10^6 nodes and minutes before any check ran. So the text is composed first
(PyYAML's node graph, aliases shared) and its size with every alias expanded is counted, through the shared nodes
once each; a tree over MAX_NODES, or an alias inside its own anchor (an endless tree), is refused in one line.
"""

from __future__ import annotations

import yaml

from ..errors import LmladderError

MAX_NODES = 10_000  # values and keys: a preset holds tens to hundreds, a Hydra job's config.yaml about a thousand
ENDLESS = -1


def yaml_reason(e: Exception) -> str:
    """A YAML error as "line 2, column 1: found duplicate key name" (PyYAML's first line is only its context,
    "while constructing a mapping"); another error's first line."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if problem and mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def expanded_size(root: yaml.Node | None) -> int:
    """The nodes of the tree `root` stands for, every alias expanded (ENDLESS for a cycle); each shared node is
    walked once, so a billion laughs is counted in as many steps as it has lines. Stops once over MAX_NODES."""
    sizes: dict[int, int] = {}
    expanding: set[int] = set()  # the nodes whose subtree is being walked: meeting one again is a cycle
    stack = [(root, False)] if root is not None else []
    while stack:
        node, children_done = stack.pop()
        key, children = id(node), _children(node)
        if children_done:
            expanding.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_NODES:
                return sizes[key]
        elif key in expanding:
            return ENDLESS
        elif key not in sizes:
            expanding.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes.get(id(root), 0)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def check_yaml(text: str, what: str, error: type[LmladderError]) -> None:
    """Raise `error` unless `text`, one YAML document, has at most MAX_NODES nodes with its aliases expanded and no
    endless one; nothing is built. Text that is not YAML raises yaml.YAMLError (say it with yaml_reason)."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except RecursionError:
        raise error(f"{what} nests its values too deeply to be read; fix it") from None
    n = expanded_size(root)
    if n == ENDLESS:
        raise error(f"{what} has an alias (*name) inside its own anchor (&name), an endless tree; remove that alias")
    if n > MAX_NODES:
        raise error(
            f"{what} holds more than {MAX_NODES:,} values and keys once its aliases (*name) are expanded, more than "
            "lmladder reads from one YAML file; write out the values it needs, without aliases of aliases"
        )
