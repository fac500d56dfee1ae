"""Private ROS domains for the graphs armbrain starts itself (demo, evaluation workers).

Each run holds an flock on /tmp/armbrain-domain-<id>.lock for as long as it uses the
domain, so concurrent runs on one machine never share one (tests use 100..149 through
their own fixture, which takes the same locks).
"""

from __future__ import annotations

import fcntl
from typing import IO

DOMAINS = range(150, 200)


def free_domain(domains: range = DOMAINS) -> tuple[int, IO]:
    """(ROS_DOMAIN_ID, lock file): a domain in `domains` no other armbrain run holds. Keep
    the file open while the domain is in use; closing it releases the domain."""
    for d in domains:
        f = open(f"/tmp/armbrain-domain-{d}.lock", "w")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return d, f
        except BlockingIOError:
            f.close()
    raise RuntimeError(f"no free ROS_DOMAIN_ID in {domains.start}..{domains.stop - 1}: "
                       "other armbrain runs hold them all")
