"""The values to hide in a CI log: each secret input's secret fields, and the whole input when it is one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

# Keys whose values are secrets inside a structured secret input (azure-credentials, registry-auth).
SECRET_KEYS = ("secret", "password", "passwd", "token", "auth")


def parse_structured(raw: str) -> Any:
    """A secret input as JSON or YAML (azure-credentials, registry-auth); None when it is neither."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return None


def secret_leaves(data: Any, key: str = "") -> Iterator[str]:
    """Every string under a secret-looking key, at any depth."""
    if isinstance(data, dict):
        for name, value in data.items():
            yield from secret_leaves(value, str(name))
    elif isinstance(data, list):
        for item in data:
            yield from secret_leaves(item, key)
    elif isinstance(data, str | int) and not isinstance(data, bool) and is_secret_key(key):
        yield str(data)


def is_secret_key(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_KEYS)


def values_to_mask(raw: str) -> list[str]:
    """The values inside one secret input to mask: its secret fields, and the whole value when it is one line.

    The lines of a multi-line value are not masked one by one: a line like `{` would hide every brace
    in the log. GitHub already masks the whole `${{ secrets.X }}` value."""
    value = raw.strip()
    found = [value] if value and "\n" not in value else []
    found += [leaf.strip() for leaf in secret_leaves(parse_structured(value)) if leaf.strip()]
    return list(dict.fromkeys(found))
