"""Print the mutation score per module from mutmut's results (run after `mutmut run`).

killed: a test failed (or the mutant timed out); survived: every test passed; no tests:
no selected test reaches the function (not counted in the score).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

NO_TESTS, SURVIVED, TIMEOUT = 33, 0, -24


def main() -> None:
    rows = []
    for meta in sorted(Path("mutants/src").rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {}).values()
        tally = Counter(
            "pending"
            if code is None
            else "no tests"
            if code == NO_TESTS
            else "survived"
            if code == SURVIVED
            else "killed"
            for code in codes
        )
        if codes:
            module = str(meta.relative_to("mutants/src")).removesuffix(".py.meta")
            rows.append((module.replace("/", "."), tally))
    print(f"{'module':40} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
    for module, t in rows:
        judged = t["killed"] + t["survived"]
        score = f"{100 * t['killed'] / judged:.1f}%" if judged else "-"
        pending = f"  ({t['pending']} not run)" if t["pending"] else ""
        print(
            f"{module:40} {t['killed']:>7} {t['survived']:>9} {t['no tests']:>9} {score:>7}"
            + pending
        )


if __name__ == "__main__":
    main()
