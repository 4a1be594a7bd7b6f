"""``audit verify-results FOLDER``: is a result folder what the device published (SRS-222,
threat THR-015)?

1. The audit log is verified first, as ``audit verify`` does (records, tree, signed checkpoints):
   a log that does not verify cannot vouch for anything, and nothing is compared.
2. Only entries a verified signed checkpoint covers can vouch (records are not signed one by one:
   a record appended after the newest checkpoint - by the device, or by anyone who can write the
   audit folder or the copy given with --dir - is not evidence until a checkpoint signs it; review
   127 defect 2). When the folder matches only newer entries the check says so and passes nothing.
   The entry that published the folder is found by the files themselves, never by what the
   folder says of itself (summary.json is one of the files compared, nothing more): among the
   success entries of Analysis Run and Explanation Produced that list files and that no later
   failure entry supersedes, the one listing the most files of the folder under the same name
   with the same SHA-256; on a tie, the one listing more files (an analyze --explain's entry
   over its nested explanation step), then the newest.
3. Each file that entry lists is unchanged, altered, missing or unreadable; each other file in
   the folder (subfolders included) is not published by the device. Only a folder whose every
   listed file is unchanged and that holds nothing else passes.

``only``: the files that must be there when the folder holds a copy of some of the result (a
node's folder destination receives segmentation.dcm and measurements.dcm only); the entry's
other files may then be absent, and are compared when they are there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from device_ai.app import audit_trail
from device_ai.app.preconditions import check_input_path
from device_ai.audit.entry import ANALYSIS_RUN, EXPLANATION, Outcome
from device_ai.audit.result_files import UNCHANGED, FileState, compare, file_digest, folder_files, listed_files
from device_ai.errors import AuditIntegrityError, ConfigError, NoPublishingEntry, ResultsNotAsPublished

PUBLISHING_EVENTS = (ANALYSIS_RUN.code, EXPLANATION.code)


@dataclass(frozen=True)
class PublishingEntry:
    seq: int
    time_utc: str
    event: str  # its meaning: Analysis Run, Explanation Produced
    files: dict[str, str]  # name -> SHA-256 (hex)


@dataclass(frozen=True)
class ResultCheck:
    folder: Path
    records: int  # in the verified log
    entry: PublishingEntry
    states: list[FileState]

    @property
    def ok(self) -> bool:
        return all(state.state == UNCHANGED for state in self.states)

    def failure(self) -> ResultsNotAsPublished:
        bad = [s for s in self.states if s.state != UNCHANGED]
        return ResultsNotAsPublished(
            f"{len(bad)} file(s) of {self.folder} are not as audit entry {self.entry.seq} "
            f"({self.entry.event}, {self.entry.time_utc}) says the device published them",
            problems=tuple(f"{self.folder / s.name}: {s.state}{f' ({s.note})' if s.note else ''}" for s in bad),
            hint="do not use these results: restore the folder from a copy that passes this check, or analyze "
                 "the series again; report the alteration to the site's security contact")


def verify_results(folder: Path, *, audit_dir: Path | None = None, key: str | None = None,
                   checkpoints: list[Path] | None = None, only: list[str] | None = None) -> ResultCheck:
    """Check ``folder`` against the audit log (the device's own, or ``audit_dir`` with ``key``);
    see the module docstring. Raises the typed errors; a result that differs is returned
    (``ok`` False, ``failure()`` says which files) so that every file's state can be shown."""
    folder = Path(folder)
    present = _listing(folder)
    records, covered = _verified_log(audit_dir, key, checkpoints or [])
    every, superseded = _publishing_entries(audit_dir)
    digests = _digests(present, {name for candidate in every for name in candidate.files})
    candidates = [entry for entry in every if entry.seq < covered]
    _refuse_if_only_unsigned(folder, digests, every, covered)
    entry = _matching_entry(folder, digests, candidates, superseded)
    listed = entry.files
    if only:
        unknown = sorted(set(only) - set(listed))
        if unknown:
            raise ConfigError(f"--only {unknown[0]}: audit entry {entry.seq}, which published {folder}, lists no "
                              f"such file; it lists {', '.join(sorted(listed))}",
                              hint="give names the entry lists (a node folder destination holds segmentation.dcm "
                                   "and measurements.dcm), or leave --only out to check the whole folder")
        # the named files must be there; the entry's others may be absent, and are compared when present
        listed = {name: digest for name, digest in listed.items() if name in only or name in present}
    states = compare(folder, listed, present, digests)
    for index, state in enumerate(states):  # a file that is another result's says whose
        if state.state != UNCHANGED and (origin := _origin(folder / state.name, state.name, candidates, entry)):
            states[index] = FileState(state.name, state.state, origin)
    return ResultCheck(folder=folder, records=records, entry=entry, states=states)


def _listing(folder: Path) -> dict[str, Path]:
    check_input_path(folder, "RESULT_FOLDER")
    if not os.path.isdir(folder):
        what = "does not exist" if not os.path.lexists(folder) else "is not a folder"
        raise ConfigError(f"result folder {folder} {what}",
                          hint="give the folder the device wrote the results into (analyze --out, a unit folder "
                               "of analyze --batch OUT, a result folder of the node)")
    try:
        return folder_files(folder)
    except OSError as exc:
        raise ConfigError(f"result folder {folder} cannot be read: {exc.strerror or exc} ({exc.filename or folder})",
                          hint="run the check as an account that may read every file of the folder") from exc


def _verified_log(audit_dir: Path | None, key: str | None, checkpoints: list[Path]) -> tuple[int, int]:
    """(records in the log, records the newest verified checkpoint covers)."""
    report = audit_trail.verify(audit_dir, key, checkpoints)
    where = audit_trail.folder_of(audit_dir)
    if report is None:
        raise NoPublishingEntry(f"there is no audit log in {where}: nothing records what the device published",
                                hint="run the check on the device that made the results, or give a copy of its "
                                     "audit folder with --dir and its pinned verifier key with --key")
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more problem(s))" if len(report.problems) > 1 else ""
        raise AuditIntegrityError(
            f"the audit log in {where} does not verify: {report.problems[0]}{more}; results cannot be checked "
            "against it", hint="run `device-ai audit verify` for every problem and have the log investigated; do "
                               "not rely on the results until the log verifies")
    return report.records, max((checkpoint.size for checkpoint in report.checkpoints), default=0)


def _same_files(entry: PublishingEntry, digests: dict[str, str]) -> int:
    """How many of the entry's files the folder holds under the same name with the same SHA-256
    (the match both the choice of the entry and the refusal of an unsigned one go by)."""
    return sum(1 for name, digest in entry.files.items() if digests.get(name) == digest)


def _refuse_if_only_unsigned(folder: Path, digests: dict[str, str], entries: list[PublishingEntry],
                             covered: int) -> None:
    """A folder whose best match is an entry no signed checkpoint covers yet cannot be vouched for."""
    def same(entry: PublishingEntry) -> int:
        return _same_files(entry, digests)

    best = max(entries, key=lambda entry: (same(entry), entry.seq), default=None)
    if best is None or best.seq < covered or not same(best):
        return
    if any(same(entry) >= same(best) for entry in entries if entry.seq < covered):
        return
    raise NoPublishingEntry(
        f"the files of {folder} match audit entry {best.seq} ({best.event}), which no signed checkpoint covers yet "
        f"(the newest verified checkpoint covers {covered} record(s)): an entry is evidence only once a checkpoint "
        "signs it", hint="check again after the device's next checkpoint (every audited command signs one when it "
                         "ends; `device-ai audit verify` lists them); if the device has not run since, have the log "
                         "investigated: someone may have appended the entry")


def _publishing_entries(audit_dir: Path | None) -> tuple[list[PublishingEntry], dict[int, int]]:
    """The success entries that list published files (oldest first), and superseded seq -> the
    failure entry that supersedes it (the device did not publish those)."""
    _, every = audit_trail.entries(audit_dir, audit_trail.EntryFilter())
    superseded: dict[int, int] = {}
    for entry in every:
        for seq in filter(None, entry["details"].get("supersedes", "").split(",")):
            superseded.setdefault(int(seq), entry["seq"])
    # an entry's place in the log, not the seq its record states, decides whether a checkpoint covers it:
    # a record appended with a genuine entry's seq would otherwise pass as covered (review 131 defect 1);
    # a record whose stated seq is not its place is no evidence at all
    candidates = [PublishingEntry(position, e["time_utc"], e["event"]["meaning"], files)
                  for position, e in enumerate(every)
                  if e["seq"] == position and e["event"]["code"] in PUBLISHING_EVENTS
                  and e["outcome"] == Outcome.SUCCESS and (files := listed_files(e["objects"]))]
    return candidates, superseded


def _matching_entry(folder: Path, digests: dict[str, str], candidates: list[PublishingEntry],
                    superseded: dict[int, int]) -> PublishingEntry:
    def score(entry: PublishingEntry) -> tuple[int, int, int]:
        return _same_files(entry, digests), len(entry.files), entry.seq

    ranked = sorted(((score(entry), entry) for entry in candidates), key=lambda pair: pair[0], reverse=True)
    live = [(s, entry) for s, entry in ranked if entry.seq not in superseded and s[0]]
    if live:
        return live[0][1]
    dead = next((entry for s, entry in ranked if s[0]), None)
    if dead is not None:
        raise NoPublishingEntry(
            f"the files of {folder} are those of audit entry {dead.seq} ({dead.event}), which entry "
            f"{superseded[dead.seq]} supersedes: the action failed after recording them and published nothing",
            hint="do not use these results: they are a failed action's, not published ones; analyze the series again")
    raise NoPublishingEntry(
        f"no success entry of the audit log lists any file of {folder} as published ({len(candidates)} entries of "
        "published results searched)",
        hint="check that the folder is a result folder of this device (for another device's results give its audit "
             "folder with --dir and its verifier key with --key); if it is, every file was replaced: do not use them")


def _digests(present: dict[str, Path], names: set[str]) -> dict[str, str]:
    """SHA-256 of the folder's files that some entry names (a file no entry names cannot match)."""
    found = {}
    for name in names & set(present):
        try:
            found[name] = file_digest(present[name])
        except OSError:
            continue  # unreadable: compared (and reported) with the chosen entry
    return found


def _origin(path: Path, name: str, candidates: list[PublishingEntry], chosen: PublishingEntry) -> str:
    """'its bytes are NAME of entry N' when an altered or extra file is another entry's file."""
    try:
        digest = file_digest(path)
    except OSError:
        return ""
    for entry in reversed(candidates):
        if entry.seq == chosen.seq:
            continue
        for other_name, other_digest in entry.files.items():
            if other_digest == digest:
                return f"its bytes are {other_name} of audit entry {entry.seq}, another {entry.event}"
    return ""
