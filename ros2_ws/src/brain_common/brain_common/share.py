"""Where an installed package's share directory is (the ament index), in one place."""

from __future__ import annotations

import os
from pathlib import Path


def share_dir(package: str) -> Path:
    """share/<package> of an installed ament package. Raises LookupError naming the
    package and AMENT_PREFIX_PATH (and the fix) when it is not installed."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return Path(get_package_share_directory(package))
    except (PackageNotFoundError, ValueError) as exc:
        prefixes = os.environ.get("AMENT_PREFIX_PATH", "")
        raise LookupError(f"package '{package}' is not installed (not in the ament index of "
                          f"AMENT_PREFIX_PATH={prefixes!r}); run 'make setup'") from exc
