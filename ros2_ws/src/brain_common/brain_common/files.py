"""Reading the project's YAML files with errors that name the file and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed YAML of `path`; ValueError "<what> <path> does not exist / cannot be read /
    is not valid YAML at line N: ..." otherwise."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ValueError(f"{what} {p} does not exist") from None
    except OSError as exc:
        raise ValueError(f"{what} {p} cannot be read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{what} {p} is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
