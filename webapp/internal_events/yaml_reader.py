"""Reading definition files fast: PyYAML's C parser, and a lean builder for what definitions are made of.

PyYAML's constructor spends most of a load in generic Python bookkeeping; plain
strings, lists and mappings are built here directly, anything else (numbers,
booleans, dates, merge keys) by PyYAML itself, so the result is the same.
"""

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STRING = "tag:yaml.org,2002:str"
MERGE = "tag:yaml.org,2002:merge"


def load_yaml(text: str) -> Any:
    """The document in `text`, as yaml.safe_load would return it; raises yaml.YAMLError."""
    loader = LOADER(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(node, loader)
    finally:
        loader.dispose()


def _build(node: Node, loader: Any) -> Any:
    if isinstance(node, ScalarNode):
        return node.value if node.tag == STRING else loader.construct_object(node)
    if isinstance(node, SequenceNode):
        return [_build(item, loader) for item in node.value]
    if isinstance(node, MappingNode) and all(isinstance(key, ScalarNode) and key.tag != MERGE for key, _ in node.value):
        return {_build(key, loader): _build(value, loader) for key, value in node.value}
    return loader.construct_object(node, deep=True)  # merge keys, complex keys: PyYAML's own rules
