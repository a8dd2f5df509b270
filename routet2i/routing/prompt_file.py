"""Read prompts from a file: one prompt a line, or JSON Lines with a ``prompt`` field.

A file is JSONL when its first non-blank line starts with ``{``; then every non-blank line must be
an object with a non-empty string ``prompt``. Otherwise every non-blank line is a prompt (leading
and trailing whitespace stripped). ``-`` reads standard input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from routet2i.errors import DataError


def read_prompts(path: str | Path) -> list[str]:
    """The prompts of ``path`` (see the module docstring); none at all is a :class:`DataError`."""
    name = str(path)
    if name == "-":
        text = sys.stdin.read()
    else:
        p = Path(path)
        if not p.is_file():
            raise DataError(f"prompts file not found: {p}")
        text = p.read_text(encoding="utf-8")
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DataError(f"{name}: no prompt in the file")
    if not lines[0][1].startswith("{"):
        return [line for _, line in lines]
    prompts: list[str] = []
    for lineno, line in lines:
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{name}:{lineno}: not a JSON object ({exc})") from exc
        prompt = obj.get("prompt") if isinstance(obj, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(f"{name}:{lineno}: needs a non-empty string field 'prompt'")
        prompts.append(prompt)
    return prompts
