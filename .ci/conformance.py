"""Runs the scim2-tester conformance checks against a running Roster and fails on any check
that reports a violation of a MUST (ERROR) or a security problem (CRITICAL).

Usage: python conformance.py <SCIM base URL> <bearer token>
"""

import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL}


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    counts = Counter(r.status.name for r in results)
    for r in results:
        marker = "FAIL" if r.status in FAILING else r.status.name
        line = f"{marker:10} {r.resource_type or '-':6} {r.title}"
        if r.status not in {Status.SUCCESS, Status.SKIPPED}:
            line += f" :: {r.reason}"
        print(line)
    print(", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())))
    failed = sum(1 for r in results if r.status in FAILING)
    passed = len(results) - failed
    print(f"conformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
