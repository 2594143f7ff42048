"""Lists the skipped tests in JUnit XML reports, with each one's reason.

make test ends with it, so that a test that could not run on this machine
(podman missing, not root) is named at the end of the run, not lost in its
middle. Reads the files gotestsum and pytest write; stdlib only.
"""

import sys
import xml.etree.ElementTree as ET


def skipped(path):
    for case in ET.parse(path).iter("testcase"):
        skip = case.find("skipped")
        if skip is None:
            continue
        where = case.get("classname", "")
        text = skip.get("message") or skip.text or ""
        # gotestsum keeps go test's "=== RUN" and "--- SKIP" lines around
        # the reason; the reason is the rest.
        reason = [
            ln.strip()
            for ln in text.splitlines()
            if not ln.lstrip().startswith(("=== ", "--- "))
        ]
        yield (
            f"{where} {case.get('name', '')}".strip(),
            " ".join(" ".join(reason).split()),
        )


def main(paths):
    found = [s for p in paths for s in skipped(p)]
    if not found:
        print("make test: no test was skipped")
        return
    print(f"make test: {len(found)} skipped:")
    for name, reason in found:
        print(f"  {name}: {reason}")


if __name__ == "__main__":
    main(sys.argv[1:])
