"""Where each key and item of a YAML file is: line and column for configuration issues."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


@dataclass(frozen=True)
class Loaded:
    """A YAML file's data and the node tree it was built from (merge keys flattened)."""

    data: Any
    root: yaml.Node | None

    def position(self, path: str) -> tuple[int, int] | None:
        """(line, column), 1-based, of what path names ('campaigns[2].caps.daily').

        A key that is not in the file (a missing one) points at the mapping that lacks it.
        """
        node = self.root
        if node is None:
            return None
        mark = node.start_mark
        for index, key in _PART.findall(path):
            if isinstance(node, yaml.SequenceNode) and index:
                if int(index) >= len(node.value):
                    break
                node = node.value[int(index)]
                mark = node.start_mark
            elif isinstance(node, yaml.MappingNode) and key:
                found = next(
                    (
                        (k, v)
                        for k, v in node.value
                        if isinstance(k, yaml.ScalarNode) and k.value == key
                    ),
                    None,
                )
                if found is None:
                    break
                mark = found[0].start_mark
                node = found[1]
            else:
                break
        return mark.line + 1, mark.column + 1


def load_yaml(text: str) -> Loaded:
    """Parse YAML safely, keeping the nodes (raises yaml.YAMLError)."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        # construct_document flattens merge keys (<<: *anchor) in the nodes themselves.
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return Loaded(data, root)
