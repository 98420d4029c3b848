"""The values to hide in a CI log, read from each secret input by its own parser: azure-credentials' client secret,
registry-auth's passwords, and the whole input when it is one line (a token such as HF_TOKEN)."""

from __future__ import annotations

from ..registry.auth import passwords
from ..sources.azure_credentials import client_secret


def values_to_mask(raw: str) -> list[str]:
    """The values inside one secret input to mask: its secrets, and the whole value when it is one line.

    The lines of a multi-line value are not masked one by one: a line like `{` would hide every brace
    in the log. GitHub already masks the whole `${{ secrets.X }}` value."""
    value = raw.strip()
    found = [value] if value and "\n" not in value else []
    found += [secret for secret in (client_secret(value), *passwords(value)) if secret]
    return list(dict.fromkeys(found))
