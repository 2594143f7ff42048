"""Ends make test: counts every test in the JUnit reports the runners wrote,
and names each skipped test with its reason.

So a test that could not run on this machine (podman missing, not root) is
named at the end of the run, not lost in its middle, and the run closes on
one line that counts everything it ran. Reads the files gotestsum and pytest
write; stdlib only.
"""

import sys
import xml.etree.ElementTree as ET


def cases(path):
    """(name, outcome, reason) for each test case in a JUnit file."""
    for case in ET.parse(path).iter("testcase"):
        name = f"{case.get('classname', '')} {case.get('name', '')}".strip()
        if case.find("failure") is not None or case.find("error") is not None:
            yield name, "failed", ""
            continue
        skip = case.find("skipped")
        if skip is None:
            yield name, "passed", ""
            continue
        text = skip.get("message") or skip.text or ""
        # gotestsum keeps go test's "=== RUN" and "--- SKIP" lines around
        # the reason; the reason is the rest.
        reason = [
            ln.strip()
            for ln in text.splitlines()
            if not ln.lstrip().startswith(("=== ", "--- "))
        ]
        yield name, "skipped", " ".join(" ".join(reason).split())


def main(paths):
    found = [c for p in paths for c in cases(p)]
    skipped = [(name, why) for name, outcome, why in found if outcome == "skipped"]
    if skipped:
        print(f"make test: {len(skipped)} skipped:")
        for name, why in skipped:
            print(f"  {name}: {why}")
    else:
        print("make test: no test was skipped")
    count = {o: sum(1 for _, got, _ in found if got == o) for o in ("passed", "failed")}
    print(
        f"total: {count['passed']} passed, {count['failed']} failed, {len(skipped)} skipped"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
