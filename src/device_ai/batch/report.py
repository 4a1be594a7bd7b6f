"""The job's de-identification report: the units' PHI-free reports (kept in the ledger)
merged by the coordinator into OUT/deidentification-report.json, in the single run's format
plus a ``batch`` section; quarantined files are labelled by unit and index within the unit."""

from __future__ import annotations

from collections import Counter

_SUMMED = ("files_processed", "files_written", "files_quarantined", "files_pixel_cleaned")
_CONSTANT = ("report_format", "table_edition", "options", "codes", "uid_method", "date_method", "date_offset")


def merged_report(unit_reports: dict[str, dict], walk: dict[str, int], walk_quarantined: int,
                  batch: dict[str, object]) -> dict[str, object]:
    """``unit_reports``: unit id -> its report; ``walk``: skipped entries by code (found by the
    coordinator's walk, never given to a worker); ``walk_quarantined``: files the walk
    quarantined unread (links leading outside IN, folders that cannot be listed)."""
    merged: dict[str, object] = {}
    for report in unit_reports.values():
        for key in _CONSTANT:
            merged.setdefault(key, report.get(key))
    totals = Counter({key: 0 for key in _SUMMED})
    outputs: list[str] = []
    quarantined: list[dict] = []
    actions: dict[str, Counter] = {}
    leaks: dict[str, list] = {}
    failed = withheld = 0
    reasons: dict[str, str] = {}
    for unit, report in sorted(unit_reports.items()):
        totals.update({key: int(report.get(key, 0)) for key in _SUMMED})
        outputs.extend(report.get("outputs", []))
        for item in report.get("quarantined", []):
            quarantined.append({**item, "unit": unit})
        for attribute, counts in report.get("actions_per_attribute", {}).items():
            actions.setdefault(attribute, Counter()).update(counts)
        check = report.get("self_check", {})
        failed += int(check.get("files_failed", 0))
        withheld += int(check.get("files_withheld", 0))
        for label, lines in check.get("leaks", {}).items():
            leaks[f"{unit}:{label}"] = lines
        reasons.update(report.get("codes", {}).get("quarantine_reasons", {}))
    processed = totals["files_processed"] + walk_quarantined
    merged.update({
        "input_entries": processed + sum(walk.values()),
        "files_skipped": dict(sorted(walk.items())),
        "files_processed": processed,
        "files_written": totals["files_written"],
        "files_quarantined": totals["files_quarantined"] + walk_quarantined,
        "files_pixel_cleaned": totals["files_pixel_cleaned"],
        "outputs": sorted(outputs),
        "quarantined": quarantined,
        "self_check": {"passed": failed == 0, "files_failed": failed, "files_withheld": withheld, "leaks": leaks},
        "actions_per_attribute": {a: dict(sorted(c.items())) for a, c in sorted(actions.items())},
        "batch": batch,
    })
    if isinstance(merged.get("codes"), dict):
        merged["codes"] = {**merged["codes"], "quarantine_reasons": dict(sorted(reasons.items())),
                           "batch": "quarantined files are labelled by unit (the study folder) and their index within "
                                    "the unit; files quarantined by the walk (links leading outside the input, "
                                    "folders that cannot be listed) are counted in files_quarantined and listed in "
                                    "the quarantine folder's walk.json"}
    return merged
