"""Evidence semantics: when does a requirement count as verified?

A requirement is verified only by a linked test that **passed** in a run recorded on **this
commit** (IEC 62304 5.7.4, 5.7.5; reference/regulatory.md §6.3). Skipped, xfailed, xpassed and
missing results are not evidence; neither is a result from another commit (stale) or, when a clean
tree is required, from a dirty work tree. A linked test that failed or errored on this commit is
contrary evidence: the requirement is ``failed`` even if another test passed. Parametrized cases
are separate tests (one node id each), so every case counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from device_ai.regulatory.results import EVIDENCE_OUTCOME, FAILING_OUTCOMES

VerdictStatus = Literal["verified", "failed", "not_verified", "no_tests"]


def short(commit: str | None) -> str:
    return commit[:12] if commit else "unknown"


def run_exclusions(runs: Iterable[Mapping[str, Any]], head: str | None, *, require_clean: bool) -> dict[str, str | None]:
    """For each run ID: None when its results may count as evidence, else why not."""
    reasons: dict[str, str | None] = {}
    for run in runs:
        git = run["header"]["git"]
        if head is None:
            reasons[run["id"]] = "no git commit to compare the results with"
        elif git["commit"] != head:
            reasons[run["id"]] = f"stale: run on commit {short(git['commit'])}, HEAD is {short(head)}"
        elif require_clean and git["dirty"] is not False:
            reasons[run["id"]] = "run on a dirty work tree"
        else:
            reasons[run["id"]] = None
    return reasons


def test_state(results: Sequence[Mapping[str, Any]], exclusions: Mapping[str, str | None]) -> tuple[str, str]:
    """``("passed" | "failed" | "other", reason)`` for one test from its results in every run."""
    current = [r for r in results if exclusions.get(r["run"], "unknown run") is None]
    if not current:
        if not results:
            return "other", "not run"
        reasons = sorted({exclusions.get(r["run"]) or "unknown run" for r in results})
        return "other", "; ".join(reasons)
    outcomes = {r["outcome"] for r in current}
    if outcomes & FAILING_OUTCOMES:
        return "failed", "/".join(sorted(outcomes & FAILING_OUTCOMES))
    if EVIDENCE_OUTCOME in outcomes:
        return "passed", EVIDENCE_OUTCOME
    return "other", "/".join(sorted(outcomes))


@dataclass(frozen=True)
class Verdict:
    """A requirement's verification verdict and the tests behind it."""

    status: VerdictStatus
    passed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    not_evidence: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "passed": list(self.passed),
                "failed": [{"test": t, "outcome": o} for t, o in self.failed],
                "not_evidence": [{"test": t, "reason": r} for t, r in self.not_evidence]}

    def explain(self) -> str:
        """What is missing, for a gap line."""
        if self.status == "no_tests":
            return "no test verifies it"
        if self.status == "failed":
            return "test(s) failed on this commit: " + ", ".join(f"{t} [{o}]" for t, o in self.failed)
        return "no test passed on this commit: " + ", ".join(f"{t} [{r}]" for t, r in self.not_evidence)


def verdict(tests: Iterable[str], results: Mapping[str, Sequence[Mapping[str, Any]]],
            exclusions: Mapping[str, str | None]) -> Verdict:
    """The verdict of a requirement verified by ``tests`` (node ids)."""
    passed, failed, other = [], [], []
    for test in sorted(set(tests)):
        state, reason = test_state(results.get(test, ()), exclusions)
        if state == "passed":
            passed.append(test)
        elif state == "failed":
            failed.append((test, reason))
        else:
            other.append((test, reason))
    if failed:
        status: VerdictStatus = "failed"
    elif passed:
        status = "verified"
    elif other:
        status = "not_verified"
    else:
        status = "no_tests"
    return Verdict(status, tuple(passed), tuple(failed), tuple(other))
