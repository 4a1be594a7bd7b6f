"""Review records: the baseline that suspect links are measured against.

``device-ai trace review ID --by NAME [--independent]`` appends ``{id, fingerprint, by, date,
commit, independent}`` to ``traceability/reviews.yaml`` (who reviewed what, at which content,
when, on which commit, and whether independently of the author: more than doorstop's hash-only ``reviewed:``; IEC 62304 8.2.3, 8.2.4; reference/regulatory.md
§0.3, §6.4). An item whose current fingerprint differs from its last review is *changed*, and
every item and test linked to it is *suspect* until the change is reviewed. The file is written
atomically and only by this module; earlier records are kept as the review history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import yaml

from device_ai.atomic_io import atomic_write_text
from device_ai.errors import ConfigError
from device_ai.regulatory.fingerprint import Fingerprinted, fingerprint
from device_ai.regulatory.loader import REVIEWS_FILE, Project
from device_ai.regulatory.items import Review

ReviewState = Literal["reviewed", "changed", "unreviewed"]
_HEADER = ("# Review records (suspect-link baseline, IEC 62304 8.2.3/8.2.4). Written only by\n"
           "# `device-ai trace review`; do not edit by hand. The last record of an ID is its baseline.\n")


def reviewable(project: Project) -> dict[str, Fingerprinted]:
    """Every item that has a fingerprint, by ID (items, the risk plan, the benefit statement, the
    post-production plan, the security plan, the device description)."""
    found: dict[str, Fingerprinted] = {item_id: located.item for item_id, located in project.items.items()}
    if project.plan is not None:
        found[project.plan.item.id] = project.plan.item
    if project.benefit is not None:
        found[project.benefit.item.id] = project.benefit.item
    if project.post_production is not None:
        found[project.post_production.item.id] = project.post_production.item
    if project.security_plan is not None:
        found[project.security_plan.item.id] = project.security_plan.item
    if project.device is not None:
        found[project.device.item.id] = project.device.item
    return found


def last_reviews(project: Project) -> dict[str, Review]:
    """The latest review record of each ID (records are appended in time order)."""
    latest: dict[str, Review] = {}
    for located in project.reviews:
        latest[located.item.id] = located.item
    return latest


#: The exact house forms by which a record written before the ``independent`` field existed
#: (before :data:`STRUCTURED_SINCE`) said it was independent: anything else, however worded, is
#: not independent ("non-independent", "(independent review; author)", "self-review,
#: independently re-run" are not).
_LEGACY_INDEPENDENT = (
    re.compile(r"[\w.\- ]+ \(independent review; not the author\)"),
    re.compile(r"independent reviewer helper \(did not write issue \d+ code(?: or fixes)?\), session [\w\- ]+(?: \(\d+\))?"),
)
#: Records dated from here on carry ``independent``; one without it is not independent.
STRUCTURED_SINCE = "2026-12-03T21:30:00Z"


def is_independent(by: str) -> bool:
    """Whether a legacy record's ``by`` (no ``independent`` field) is one of the exact house
    forms of an independent review (:data:`_LEGACY_INDEPENDENT`): a strict whitelist, so no
    wording can make an author's record pass (SRS-182)."""
    text = " ".join(by.split())
    return any(form.fullmatch(text) for form in _LEGACY_INDEPENDENT)


def counts_as_independent(record: Review) -> bool:
    """A record is independent when it says so in its ``independent`` field; a record without
    the field counts only when dated before :data:`STRUCTURED_SINCE` and its ``by`` is a house
    form (:func:`is_independent`)."""
    if record.independent is not None:
        return record.independent
    return record.date < STRUCTURED_SINCE and is_independent(record.by)


def independent_reviews(project: Project, item_id: str, current: str) -> list[Review]:
    """The independent review records of ``item_id`` at its current fingerprint, oldest first."""
    return [located.item for located in project.reviews
            if located.item.id == item_id and located.item.fingerprint == current and counts_as_independent(located.item)]


def review_state(current: str, review: Review | None) -> ReviewState:
    """``reviewed`` at this fingerprint, ``changed`` since the last review, or never ``unreviewed``."""
    if review is None:
        return "unreviewed"
    return "reviewed" if review.fingerprint == current else "changed"


@dataclass(frozen=True)
class ReviewOutcome:
    """What ``record_reviews`` did: the records added, and the IDs already reviewed as they are."""

    added: tuple[Review, ...]
    unchanged: tuple[str, ...]


def record_reviews(project: Project, ids: Iterable[str] | None, *, by: str, date: str,
                   commit: str | None, independent: bool = False) -> ReviewOutcome:
    """Record reviews of ``ids`` (None: every item not yet reviewed at its current fingerprint)
    and write ``traceability/reviews.yaml`` atomically. ``independent``: the reviewer is
    independent of the author (recorded as the record's ``independent`` field, SRS-182).

    Raises :class:`~device_ai.errors.ConfigError` for an empty reviewer name or an unknown ID.
    """
    by = " ".join(by.split())
    if not by:
        raise ConfigError("a review needs the reviewer's name", hint="pass --by NAME")
    items = reviewable(project)
    wanted = sorted(items) if ids is None else list(dict.fromkeys(ids))
    unknown = [item_id for item_id in wanted if item_id not in items]
    if unknown:
        raise ConfigError(f"no such item: {', '.join(unknown)}", hint="give IDs from traceability/ or risk/, or --all")
    # --all reviews what nobody reviewed at its content; named items may get a further reviewer
    # at the same content (an independent review after the author's), never the same one twice.
    latest = last_reviews(project)
    done = {(located.item.id, located.item.fingerprint, located.item.by) for located in project.reviews}
    added, unchanged = [], []
    for item_id in wanted:
        current = fingerprint(items[item_id])
        if (item_id, current, by) in done or (ids is None and review_state(current, latest.get(item_id)) == "reviewed"):
            unchanged.append(item_id)
            continue
        added.append(Review(id=item_id, fingerprint=current, by=by, date=date, commit=commit, independent=independent))
    if added:
        records = [located.item for located in project.reviews] + added
        write_reviews(project, records)
    return ReviewOutcome(tuple(added), tuple(unchanged))


def write_reviews(project: Project, records: list[Review]) -> None:
    """Write every review record, in order, to ``traceability/reviews.yaml`` (atomic)."""
    body = yaml.safe_dump({REVIEWS_FILE.key: [_record_data(record) for record in records]}, sort_keys=False,
                          allow_unicode=True, default_flow_style=False, width=120)
    atomic_write_text(project.root / REVIEWS_FILE.path, _HEADER + body)


def _record_data(record: Review) -> dict[str, object]:
    """A record as written: a legacy record without ``independent`` is written as it was."""
    data = record.model_dump()
    if data["independent"] is None:
        del data["independent"]
    return data
