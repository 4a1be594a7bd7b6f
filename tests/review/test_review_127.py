"""Independent review 127 (reviewer helper-127) of SRS-220 (helper-121: 2098760, docs 9c66743), SRS-222
(helper-122: 931ff4d, IFU 0701c79), the lead's SRS-219 fix (8705ce6, not re-reviewed before) and the lead's
text edits of SRS-160, SRS-165 and SRS-174 (2e78985), at HEAD f16c146 (since those
commits only hot_folder.py changed among the reviewed files, SRS-226's lines; line numbers below are HEAD's).
helper-127 wrote none of the code, the requirements, the threats or their tests. Read against the requirement
texts, security/threats.yaml THR-004, THR-015, THR-036, THR-038, THR-039, security/interfaces.yaml
IF-BATCH-LOCAL, IF-BATCH-SCHEDULER, IF-RESULT-FILES and security/plan.yaml's scale. Dask is distributed
2026.8.0 (.venv).

1. SRS-220 (batch Dask over mutual TLS): the transport HOLDS; DEFECT 1 in what the text says of the HTTP servers.
   No peer without the job's certificate exchanges a message with the local scheduler, nanny or worker: plain TCP
   and a certificate of its own are the author's test; TLS with no client certificate fails on every port
   while the job's certificate is let in (test_a01: Dask's server context is CERT_REQUIRED,
   distributed/security.py:280). Every listener of the cluster's processes, comm and HTTP, is on 127.0.0.1
   (test_a01). The job's key is made in memory (Security.temporary, cluster_security.py:57-62) and touches disk
   exactly as SRS-220 and THR-036 say: Dask writes it as dask.pem into a fresh 0700 mkdtemp folder under TMPDIR
   each time it builds a TLS context (security.py:264-275) and removes the folder at once; after the job no file
   holding a private key is left under TMPDIR, workers included (test_a03). tcp:// and other schemes are refused
   (cluster_security.py:71-76) before the audit log, OUT or the model are touched, also for anonymize --batch and
   validate --scheduler, called first in analyze_job.py:103, anonymize_job.py:138, validation_job.py:82
   (test_a04; control: tls:// with credentials reaches the audit log and the engine). The device's site
   credentials refuse a plain tcp:// peer before connecting (Security(require_encryption=True),
   cluster_security.py:85; Dask's comm/tcp.py:467), so a scheduler handing out a plain worker address cannot
   make it talk in clear (test_a05; control: Dask's default Security connects). The residual E2 of
   THR-036 (the key is in the device account's memory and 0700 temp folders), THR-038 and THR-039 (custody of a
   CA dedicated to the cluster, E3 said for a shared CA; docs/scale.md says to dedicate it) fit plan.yaml's E2
   ("the device's own account, an administrator of the host").
   DEFECT 1: the HTTP servers do serve a page. Dask's RoutingApplication always adds /sitemap.json
   (distributed/http/routing.py:53); with the routes emptied (cluster_security.py:41, engines.py:84-88) it answers
   200 with {"paths": ["/sitemap.json"]} on the scheduler's and every worker's HTTP port. SRS-220's text ("shall
   serve no page"; acceptance "its HTTP pages answer 404"), THR-036 ("serve no page"), IF-BATCH-LOCAL ("serves
   no route") and the commit ("404 for every page") say otherwise; the author's test probes five paths, not this
   one. Nothing about the cluster is disclosed (the page lists only itself), so this is a text defect: say
   "no page but Dask's route list, which lists only itself", or remove the handler. Pin
   test_d1_the_sitemap_is_served_and_lists_only_itself (control: a scheduler as Dask configures it lists its JSON
   pages there); strict xfail test_d1_every_http_path_answers_404.
2. SRS-222 (result digests, verify-results): the recording HOLDS; DEFECT 2 in the check's trust in the log.
   The digests are taken in the staging folder after summary.json is written and nothing writes into the folder
   afterwards (inference/analyze.py:278-281, atomic_io.py:201-217 only fsync, chmod the folder and rename). Every
   publishing path records them: analyze, demo, analyze --explain (outer and nested entries), explain, analyze
   --batch (one unit in process; the author's tests run it on a cluster and the node) - test_b01; every recorded
   name matches the device's own pattern (result_files.py:25) and the log holds no identifier of the phantom.
   verify-results cannot be fooled by a mix of two runs' files (the better-matching entry is chosen and the
   other run's file is named, test_b02), a link or a FIFO in place of a published file (unreadable, no hang),
   a linked subfolder (not published), test_b03.
   DEFECT 2: the entry that vouches for a folder need not be covered by any signed checkpoint. Records are not
   signed one by one; ``audit verify`` accepts records after the last checkpoint (the normal state between
   checkpoints), and verify_results takes its entry from all records (result_check.py:72-75, 123-135). Appending
   one framed record - the genuine entry with the SEG's digest replaced - to audit.log makes an altered SEG pass,
   without the audit key, also against a copy of the audit folder checked with --dir and the pinned verifier key;
   the device's next command then signs the forged record into its checkpoint (seen in the review's probe). So
   THR-015's "altering or replacing a result so that the check does not show it needs the account that holds the
   audit key" and IF-RESULT-FILES's "signed audit log" overclaim: it needs write access to the audit folder (or
   to the copy given with --dir), which docs/key_custody.md separates from the key on purpose. The local case
   stays E2 (DEVICE_AI_HOME/audit is the device account's, 0700); the --dir case is whoever holds the copy. Pin
   test_d2_an_entry_appended_without_the_key_vouches_for_an_altered_seg (control: the same alteration without
   the forged record fails); strict xfail test_d2_an_entry_no_signed_checkpoint_covers_does_not_vouch. Fix:
   take the entry only among records a verified checkpoint covers (say when the newest entries are not yet
   covered), and state in THR-015 that an account that can append to the audit log can add an entry the next
   checkpoint signs.
3. SRS-219 (world-writable IN, lead's fix): the text HOLDS; DEFECT 3 in what THR-004 rests on. Review 120's d1
   probes pass (tests/review/test_review_120.py). candidates() (hot_folder.py:249-286) does not enter a folder with
   the other-write bit two levels down, sticky (01777) or not, nor any link to a folder (a link is a candidate
   file and take() rejects it, 332-334), and warns once for all of them (test_c01..c03; controls: 0755, 01770 and
   a real folder are entered).
   DEFECT 3: a FILE under IN that every account can write is taken (candidates() checks folders only, 282;
   take() reads any regular file, 325-368). The exporter review 120 described (umask 000: 0777 folders) writes 0666
   files: until the node takes one (it waits node_watch_settle_s after the last change), any account of the host
   can rewrite its bytes with a forged instance, which the node analyses as the site's. THR-004's "only the
   accounts the site lets write IN (owner or group) can drop files" and its residual E2 rest on this. Pin
   test_d3_a_file_every_account_can_write_is_taken (control: IN 0777 is refused; a 0644 file is taken); strict
   xfail test_d3_a_file_every_account_can_write_is_not_taken. Fix: skip (and warn) such a file as such a folder,
   or say in SRS-219 and THR-004 that the node takes it.
Lead, 2026-12-07 (not re-reviewed): defect 1 - SRS-220's text, THR-036 and IF-BATCH-LOCAL now say the HTTP
servers serve no page but Dask's own /sitemap.json, which lists only itself (behaviour unchanged: the pin and
the strict xfail stand); defect 2 - result_check.py takes only entries a verified checkpoint covers and refuses a
folder that a newer, unsigned entry matches better (the d2 pin asserts the refusal, its xfail is a plain test),
THR-015 says an account that can write the audit folder can append an entry the next checkpoint signs; defect 3 -
candidates() leaves a file every account can write in IN and warns once (d3 pin inverted, xfail a plain test).

4. SRS-160, SRS-165, SRS-174 (2e78985): HOLD. The diff changes exactly ``--scheduler tcp://HOST:PORT`` to
   ``tls://HOST:PORT`` in the three texts (git show 2e78985, 3 lines); the code takes tls:// with the
   batch_tls_* settings and refuses tcp:// for the three commands, whose help says so (test_e01).

Notes (no xfail):
N1 THR-015's residual is E2 while its rationale says a viewer or PACS importer that reads without the check
   stays at E3 - the foreseeable case for the node's OUT and folder destinations (IFU precaution 0701c79 asks
   for the check). One value for two populations: the lead should say why E2 is the residual of record.
N2 An Analysis Run success entry is durable before the rename (by design); a process killed between the two
   leaves a hidden staging folder whose files pass verify-results. They are the device's bytes; benign.
N3 verify-results does not bind a folder to its place or series: a folder swapped whole for another genuine
   result passes (THR-015 says so; the SEG and SR name their patient).
N4 The site key (batch_tls_key_file) is read once and handed to Dask as text (cluster_security.py:97-108), so
   Dask also writes it into its 0700 temp folders; SRS-220's rationale says this of the job's key only.

Mutation check (b7815f5's src/ by git archive into /tmp/h127src/<name>/src, models/ linked beside it, one string
replacement each by /tmp/h127/mutate.py; this file and the authors' tests run with the copy first on PYTHONPATH;
baseline copy: this file 16 passed 3 xfailed, authors' + review 120 44 passed):
  M1 tcp:// accepted (cluster_security.py:71): a04, e01; author 1 test.  M12 site Security without
  require_encryption (85): a05; author 6.  M2 local cluster on tcp:// without security (engines.py:86): a01, d1,
  a03 (fixture errors); author 1.  M3 HTTP routes kept (engines.py:84): d1 pin; author 1.  M4/M5 site_scheduler
  moved inside the audited block (anonymize_job.py:138, validation_job.py:82): a04 (authors' tests pass: they
  probe analyze only).  M6 preview digests not recorded (result_files.py:52): b01-b03; author 8.  M7 extra files
  ignored (97): b03; author 1.  M8b links neither refused nor opened O_NOFOLLOW (39, 101): b03 (authors' pass).
  M11 explanation files not recorded (explanation.py:50): b01; author 1.  M9 0777 folders entered
  (hot_folder.py:275): c01 x3, c03; review 120 d1 x2.  M10 sticky 01777 folders entered: c01[01777] (review 120
  passes).  12 behaviour mutants, 12 killed. M8 (the islink test alone dropped, 101) is equivalent: file_digest's
  O_NOFOLLOW still reports the link unreadable. Fix mutants: F2 (verify-results takes only entries the newest
  verified checkpoint covers): d2 pin fails, its xfail XPASSes (strict: fails), b01-b03 and the authors' 11
  SRS-222 tests pass; F3 (candidates() skips files with other-write): d3 pin fails, its xfail XPASSes, c01-c03
  pass. Defect 1 has no fix mutant (Dask adds the route itself; the fix is likely in the text).

NOT checked: a site Dask cluster whose own scheduler-worker links are plain (the site's configuration);
POSIX ACLs granting write to named accounts; the node's DIMSE and STOW-RS sends (THR-010, THR-014).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import sys
import tempfile
import time
import types
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

from device_ai.config import Settings
from device_ai.errors import ConfigError
from tests import fast_yaml

ROOT = Path(__file__).resolve().parents[2]


# --- SRS-220 ---------------------------------------------------------------------------------

class _KeyFolders:
    """Stands in for tempfile in distributed.security: records each temporary folder Dask writes
    a certificate and key into (its mode, what it held, how long it lived, whether it is gone)."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        outer = self

        class Watched:
            def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
                self.inner = tempfile.TemporaryDirectory(*args, **kwargs)

            def __enter__(self) -> str:
                self.path, self.started = self.inner.__enter__(), time.monotonic()
                return self.path

            def __exit__(self, *exc) -> None:  # noqa: ANN002
                held = {p.name: (stat.S_IMODE(p.stat().st_mode), b"PRIVATE KEY" in p.read_bytes())
                        for p in Path(self.path).iterdir()}
                record = {"folder_mode": stat.S_IMODE(os.stat(self.path).st_mode), "held": held,
                          "lived_s": time.monotonic() - self.started}
                self.inner.__exit__(*exc)
                record["gone"] = not os.path.exists(self.path)
                outer.seen.append(record)

        self.module = types.SimpleNamespace(TemporaryDirectory=Watched)


def _keys_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and b"PRIVATE KEY" in p.read_bytes()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - (DaskEngine, _KeyFolders, TMPDIR)
    """One local cluster of the device (one worker), with TMPDIR of its own and Dask's key folders watched."""
    import distributed.security

    from device_ai.batch.engines import DaskEngine

    temp = tmp_path_factory.mktemp("h127-tmpdir")
    folders = _KeyFolders()
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(temp))  # the worker processes (spawned) take it
    patch.setattr(tempfile, "tempdir", str(temp))
    patch.setattr(distributed.security, "tempfile", folders.module)
    engine = DaskEngine(workers=1)
    try:
        yield engine, folders, temp
    finally:
        engine.close()
        patch.undo()


def _targets(engine) -> list[str]:  # noqa: ANN001
    workers = engine.client.scheduler_info()["workers"]
    return [engine.cluster.scheduler_address, *workers, *(w["nanny"] for w in workers.values())]


def _http_ports(engine) -> list[int]:  # noqa: ANN001
    info = engine.client.scheduler_info()
    return [info["services"]["dashboard"], *(w["services"]["dashboard"] for w in info["workers"].values())]


def _tls_session(address: str, context: ssl.SSLContext) -> str:
    """'let in' when the peer keeps the TLS session (it sends Dask's handshake, or waits for ours),
    'refused' when it ends it (handshake alert or close)."""
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.settimeout(1.5)
                return "refused" if tls.recv(1) == b"" else "let in"
        except TimeoutError:
            return "let in"
        except (ssl.SSLError, ConnectionError):
            return "refused"


def _client_context(security, folder: Path, with_certificate: bool) -> ssl.SSLContext:  # noqa: ANN001
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cadata=security.tls_ca_file)
    if with_certificate:
        cert, key = folder / "job.pem", folder / "job.key"
        cert.write_text(security.tls_client_cert)
        key.write_text(security.tls_client_key)
        context.load_cert_chain(cert, key)
    return context


@pytest.mark.req("SRS-220")
def test_a01_tls_without_a_client_certificate_is_refused_on_every_port_and_all_listen_on_loopback(
        cluster, tmp_path: Path) -> None:  # noqa: ANN001
    import psutil

    engine, _, _ = cluster
    targets = _targets(engine)
    assert len(targets) == 3 and all(t.startswith("tls://127.0.0.1:") for t in targets), targets
    bare = _client_context(engine.security, tmp_path, with_certificate=False)
    job = _client_context(engine.security, tmp_path, with_certificate=True)
    for target in targets:
        assert _tls_session(target, bare) == "refused", target
        assert _tls_session(target, job) == "let in", target  # control: the job's certificate is let in
    pids = {os.getpid(), *engine.worker_pids().values()}
    listening = [(c.laddr.ip, c.laddr.port) for pid in pids for c in psutil.Process(pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN]
    ours = {int(t.rsplit(":", 1)[1]) for t in targets} | set(_http_ports(engine))
    assert ours <= {port for _, port in listening}  # control: the scan sees the cluster's listeners
    assert {ip for ip, port in listening if port in ours} == {"127.0.0.1"}, listening


def _http(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


PROBED_PATHS = ("/", "/status", "/statics/", "/proxy/8786/127.0.0.1/status", "/api/v1", "/json/counts.json",
                "/individual-plots.json", "/eventstream", "/info/main/logs.html", "/metrics", "/health")


@pytest.mark.req("SRS-220")
def test_d1_the_sitemap_is_served_and_lists_only_itself(cluster) -> None:  # noqa: ANN001
    """Pin of defect 1: every HTTP server of the local cluster answers /sitemap.json (200), listing
    only itself; every other path probed answers 404."""
    engine, _, _ = cluster
    for port in _http_ports(engine):
        status, body = _http(port, "/sitemap.json")
        assert status == 200 and json.loads(body) == {"paths": ["/sitemap.json"]}, (port, body)
        assert {path: _http(port, path)[0] for path in PROBED_PATHS} == dict.fromkeys(PROBED_PATHS, 404), port

    async def default_sitemap() -> dict:
        from distributed import Scheduler

        async with Scheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0") as scheduler:
            status, body = await asyncio.to_thread(_http, scheduler.http_server.port, "/sitemap.json")
            return json.loads(body) if status == 200 else {}

    # control: a scheduler as Dask configures it lists its JSON pages there, so the pin sees the routes
    assert "/json/identity.json" in asyncio.run(default_sitemap())["paths"]


@pytest.mark.req("SRS-220")
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="defect 1: /sitemap.json answers 200 (SRS-220 says no page is served)")
def test_d1_every_http_path_answers_404(cluster) -> None:  # noqa: ANN001
    engine, _, _ = cluster
    for port in _http_ports(engine):
        assert _http(port, "/sitemap.json")[0] == 404


@pytest.mark.req("SRS-220")
def test_a03_the_jobs_key_touches_disk_only_for_an_instant_in_a_private_folder(cluster) -> None:  # noqa: ANN001
    engine, folders, temp = cluster
    assert sorted(engine.run(abs, [-1, -2])) == [1, 2]  # the cluster works with the watch in place
    written = [seen for seen in folders.seen if any(has_key for _, has_key in seen["held"].values())]
    assert written, "the coordinator's side wrote its key for Dask's TLS contexts (SRS-220 says it does)"
    for seen in folders.seen:
        assert seen["folder_mode"] == 0o700 and seen["gone"] and seen["lived_s"] < 1.0, seen
    assert _keys_under(temp) == []  # nor did the worker process leave one under its TMPDIR
    planted = temp / "planted" / "left.pem"  # control: the scan finds a key left there
    planted.parent.mkdir()
    planted.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    assert _keys_under(temp) == [planted]
    planted.unlink()


@pytest.mark.req("SRS-220")
def test_a04_tcp_is_refused_before_the_audit_log_out_or_the_model_for_anonymize_and_validate(
        tmp_path: Path) -> None:
    from device_ai.app.context import Context
    from device_ai.batch.anonymize_job import BatchAnonymizeRequest, anonymize_batch
    from device_ai.batch.errors import SchedulerNotSecured
    from device_ai.batch.validation_job import validate_batch
    from tests.batch.helpers import make_studies
    from tests.batch.site_tls import site_credentials

    class EngineAsked(Exception):
        pass

    def engine_factory(*args) -> None:  # noqa: ANN002
        raise EngineAsked

    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, 2, slices=1, rows=64)
    audit = Path(os.environ["DEVICE_AI_HOME"]) / "audit"
    ctx = Context(settings=Settings(**site_credentials(tmp_path / "tls").device_settings()))
    runs = {"anonymize": lambda scheduler: anonymize_batch(
                ctx, BatchAnonymizeRequest(input=inputs, out=out, scheduler=scheduler), engine_factory),
            "validate": lambda scheduler: validate_batch(
                ctx, patients=20, seed=0, out=tmp_path / "report.json", scheduler=scheduler,
                engine_factory=engine_factory)}
    for name, run in runs.items():
        for address in ("tcp://127.0.0.1:9", "127.0.0.1:9", "ws://127.0.0.1:9"):
            with pytest.raises(SchedulerNotSecured, match="tls://"):
                run(address)
            assert not audit.exists() and not out.exists() and not (tmp_path / "report.json").exists(), name
    for name, run in runs.items():  # control: tls:// with the credentials gets as far as the engine
        with pytest.raises(EngineAsked):
            run("tls://127.0.0.1:9")
        assert audit.is_dir(), name


@pytest.mark.req("SRS-220")
def test_a05_the_devices_site_credentials_never_connect_in_clear(tmp_path: Path) -> None:
    """THR-039: a plain tcp:// peer (a worker address a site scheduler could hand out) is refused
    by the device's site Security before a connection is made."""
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    from device_ai.batch.cluster_security import site_scheduler
    from tests.batch.site_tls import site_credentials

    device = site_scheduler("tls://127.0.0.1:9", Settings(**site_credentials(tmp_path / "tls").device_settings()))

    def connects(security: Security) -> tuple[bool, str]:
        """(a connection reached the listener, the refusal's text)."""
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(1)
            address = f"127.0.0.1:{listener.getsockname()[1]}"

            async def attempt() -> None:  # Dask's own tcp connector, as Client and rpc reach a tcp:// peer
                comm = await get_backend("tcp").get_connector().connect(
                    address, **security.get_connection_args("client"))
                comm.abort()

            refusal = ""
            try:
                asyncio.run(attempt())
            except RuntimeError as exc:
                refusal = str(exc)
            try:
                listener.accept()[0].close()
                return True, refusal
            except TimeoutError:
                return False, refusal

    reached, refusal = connects(device.security)
    assert device.security.require_encryption and not reached and "encryption required" in refusal, refusal
    assert connects(Security()) == (True, "")  # control: Dask's default security connects in clear


# --- SRS-222 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.phantom_series import two_slice_phantom_series

    return two_slice_phantom_series(tmp_path_factory)


def _main(*args: str) -> None:
    from device_ai import cli

    assert cli.main([*args]) == 0, args


def _publishing_entries() -> list[dict]:
    from device_ai.app.audit_trail import EntryFilter, entries
    from device_ai.app.result_check import PUBLISHING_EVENTS

    return [e for e in entries(None, EntryFilter())[1]
            if e["event"]["code"] in PUBLISHING_EVENTS and any(o["kind"] == "file" for o in e["objects"])]


def _files(entry: dict) -> dict[str, str]:
    return {o["role"]: o["id"] for o in entry["objects"] if o["kind"] == "file"}


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.req("SRS-222")
def test_b01_every_publishing_path_records_its_files_under_device_names(series: Path, tmp_path: Path) -> None:
    from device_ai.app.context import Context
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder
    from device_ai.audit.result_files import DEVICE_NAME
    from device_ai.batch.analyze_job import BatchAnalyzeRequest, analyze_batch

    _main("analyze", str(series), "--out", str(tmp_path / "analyze"))
    _main("analyze", str(series), "--out", str(tmp_path / "explained"), "--explain", "Organ")
    _main("explain", str(series), "--label", "Organ", "--slices", "1", "--out", str(tmp_path / "explain"))
    _main("demo", "--out", str(tmp_path / "demo"), "--slices", "2")
    batch_in = tmp_path / "batch-in"
    shutil.copytree(series, batch_in / "series")
    analyze_batch(Context(settings=Settings()), BatchAnalyzeRequest(input=batch_in, out=tmp_path / "batch"))
    [unit] = [p for p in (tmp_path / "batch").iterdir() if not p.name.startswith(".")]
    folders = {"analyze": tmp_path / "analyze", "analyze --explain": tmp_path / "explained",
               "explain": tmp_path / "explain", "demo": tmp_path / "demo" / "result", "analyze --batch": unit}
    for what, folder in folders.items():
        check = verify_results(folder)
        assert check.ok and sorted(check.entry.files) == sorted(p.name for p in folder.iterdir()), what
    entries = _publishing_entries()
    assert [e["event"]["meaning"] for e in entries].count("Explanation Produced") == 2  # nested and standalone
    assert all(DEVICE_NAME.fullmatch(name) for e in entries for name in _files(e))
    explained = _files(next(e for e in entries if len(_files(e)) > 5))
    nested = _files(next(e for e in entries if e["event"]["meaning"] == "Explanation Produced"))
    assert nested.items() <= explained.items()  # the nested step's files, as published, are in the outer entry
    raw = (default_folder() / LOG_NAME).read_bytes()
    assert b"PHANTOM" not in raw and b"2.25." not in raw
    _flip(next((tmp_path / "explained").glob("explain_*.dcm")))  # control: an explanation altered fails
    assert not verify_results(tmp_path / "explained").ok


@pytest.mark.req("SRS-222")
def test_b02_a_folder_mixing_two_runs_fails_whichever_entry_it_matches_best(series: Path, tmp_path: Path) -> None:
    from device_ai.app.result_check import verify_results

    first, second = tmp_path / "first", tmp_path / "second"
    _main("analyze", str(series), "--out", str(first))
    _main("analyze", str(series), "--out", str(second))
    same = {n for n in _files(_publishing_entries()[0]) if (first / n).read_bytes() == (second / n).read_bytes()}
    assert same == {"preview_slice0001.png", "preview_slice0002.png"}  # the runs share their previews
    assert verify_results(first).ok  # control
    for name in ("segmentation.dcm", "measurements.dcm"):  # most of the folder is now the second run's
        shutil.copyfile(second / name, first / name)
    check = verify_results(first)
    assert not check.ok and check.entry.seq == _publishing_entries()[1]["seq"]
    [bad] = [s for s in check.states if s.state != "unchanged"]
    assert bad.name == "summary.json" and bad.state == "altered" and "its bytes are summary.json" in bad.note


@pytest.mark.req("SRS-222")
def test_b03_links_and_pipes_in_a_result_folder_are_not_taken_as_published(series: Path, tmp_path: Path) -> None:
    from device_ai.app.result_check import verify_results

    out, kept = tmp_path / "out", tmp_path / "kept"
    _main("analyze", str(series), "--out", str(out))
    kept.mkdir()
    shutil.move(out / "segmentation.dcm", kept / "segmentation.dcm")
    (out / "segmentation.dcm").symlink_to(kept / "segmentation.dcm")  # the genuine bytes, behind a link
    check = verify_results(out)
    assert not check.ok and [(s.name, s.state) for s in check.states if s.state != "unchanged"] == [
        ("segmentation.dcm", "unreadable")]
    (out / "segmentation.dcm").unlink()
    os.mkfifo(out / "segmentation.dcm")  # a pipe: not read, so the check cannot hang on it
    assert [(s.name, s.state) for s in verify_results(out).states if s.state != "unchanged"] == [
        ("segmentation.dcm", "unreadable")]
    (out / "segmentation.dcm").unlink()
    shutil.copyfile(kept / "segmentation.dcm", out / "segmentation.dcm")
    assert verify_results(out).ok  # control: the same bytes as a file pass
    (out / "more").symlink_to(kept, target_is_directory=True)
    assert [(s.name, s.state) for s in verify_results(out).states if s.state != "unchanged"] == [
        ("more", "not published by the device")]


def _append_forged_entry(log: Path, genuine_digest: str, forged_digest: str) -> None:
    """Append a record to audit.log - the newest entry that lists ``genuine_digest``, with it
    replaced - framed as the device frames records. No key is used."""
    from device_ai.audit.store import scan

    data = log.read_bytes()
    records = scan(data).records
    entry = json.loads(next(r for r in reversed(records) if genuine_digest.encode() in r.payload).payload)
    entry["seq"] = len(records)
    entry["objects"] = [{**o, "id": forged_digest} if o.get("id") == genuine_digest else o for o in entry["objects"]]
    payload = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    log.write_bytes(data + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload)


def _altered_result(series: Path, tmp_path: Path) -> tuple[Path, str, str]:
    import hashlib

    from device_ai.app.result_check import verify_results

    out = tmp_path / "out"
    _main("analyze", str(series), "--out", str(out))
    assert verify_results(out).ok
    seg = out / "segmentation.dcm"
    genuine = hashlib.sha256(seg.read_bytes()).hexdigest()
    _flip(seg)
    return out, genuine, hashlib.sha256(seg.read_bytes()).hexdigest()


def _after_forgery(series: Path, tmp_path: Path) -> tuple[bool, bool, int | None]:
    """(the local check passes, the check of a copy with --dir and the pinned key passes, the
    local check's entry is the forged record) once one record is appended to both logs."""
    from device_ai.app.audit_trail import verify
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder, device_verifier_key
    from device_ai.errors import DeviceAIError

    out, genuine, forged = _altered_result(series, tmp_path)
    assert not verify_results(out).ok  # control: the altered SEG fails without the forged record
    pinned = device_verifier_key(default_folder(), only_existing=True)
    copy = tmp_path / "audit-copy"  # a copy of the audit folder, as a reader elsewhere gets it
    shutil.copytree(default_folder(), copy)
    for log in (default_folder() / LOG_NAME, copy / LOG_NAME):
        _append_forged_entry(log, genuine, forged)
    assert verify(None, None, []).ok and verify(copy, pinned, []).ok  # audit verify passes the log
    forged_seq = verify(None, None, []).records - 1
    results = []
    for folder, key in ((None, None), (copy, pinned)):
        try:
            check = verify_results(out, audit_dir=folder, key=key)
        except DeviceAIError:  # a refusal of the forged entry is what a fix could do
            results.append((False, None))
            continue
        results.append((check.ok, check.entry.seq == forged_seq))
    return results[0][0], results[1][0], results[0][1]


@pytest.mark.req("SRS-222")
def test_d2_an_entry_appended_without_the_key_no_longer_vouches_for_an_altered_seg(series: Path,
                                                                                  tmp_path: Path) -> None:
    """Pin of defect 2, inverted by the lead's fix (result_check.py takes only entries a verified
    checkpoint covers): the appended record is refused, locally and on the --dir copy; the
    unaltered result still passes (_altered_result asserts it before the flip: the control)."""
    assert _after_forgery(series, tmp_path) == (False, False, None)


@pytest.mark.req("SRS-222")
def test_d2_an_entry_no_signed_checkpoint_covers_does_not_vouch(series: Path, tmp_path: Path) -> None:
    local, copied, _ = _after_forgery(series, tmp_path)
    assert not local and not copied


# --- SRS-219 ---------------------------------------------------------------------------------

def _watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inbox: Path):  # noqa: ANN202 - HotFolder
    from device_ai.node.hot_folder import HotFolder
    from tests.node.conftest import context, node_env

    node_env(monkeypatch)
    return HotFolder(context(), inbox, tmp_path / "out", settle_s=1.0, pipeline=False)


def _drop(folder: Path, mode: int | None = None, name: str = "forged.dcm", file_mode: int = 0o644) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"synthetic")
    (folder / name).chmod(file_mode)
    if mode is not None:
        folder.chmod(mode)
    return folder / name


def _candidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inbox: Path) -> set[str]:
    return {str(path.relative_to(inbox)) for path, _ in _watcher(tmp_path, monkeypatch, inbox).candidates()}


@pytest.mark.req("SRS-219")
@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o757])
def test_c01_a_folder_every_account_can_write_is_not_entered_two_levels_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    inbox = tmp_path / "in"
    _drop(inbox / "site" / "open", mode)
    _drop(inbox / "site" / "closed", 0o755)
    _drop(inbox / "site" / "sticky-group", 0o1770)  # control: sticky without other-write is the site's
    inbox.chmod(0o755)
    assert _candidates(tmp_path, monkeypatch, inbox) == {"site/closed/forged.dcm", "site/sticky-group/forged.dcm"}
    (inbox / "site" / "open").chmod(0o755)  # control: the same folder closed is entered
    assert "site/open/forged.dcm" in _candidates(tmp_path, monkeypatch, inbox)


@pytest.mark.req("SRS-219")
def test_c02_a_link_to_a_world_writable_folder_is_not_entered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir(mode=0o755)
    _drop(tmp_path / "elsewhere", 0o777)
    (inbox / "export").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    _drop(inbox / "real", 0o755)
    found = {str(p.relative_to(inbox)): info for p, info in _watcher(tmp_path, monkeypatch, inbox).candidates()}
    assert set(found) == {"export", "real/forged.dcm"}  # control: the real folder's file is found
    assert stat.S_ISLNK(found["export"].st_mode)  # a link, which take() rejects without following it


@pytest.mark.req("SRS-219")
def test_c03_folders_every_account_can_write_are_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    inbox = tmp_path / "in"
    for name in ("a", "b", "c/d"):
        _drop(inbox / name, 0o777)
    inbox.chmod(0o755)
    watcher = _watcher(tmp_path, monkeypatch, inbox)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            assert list(watcher.candidates()) == []
    said = [r.getMessage() for r in caplog.records if "every account can write" in r.getMessage()]
    assert len(said) == 1 and str(inbox) in said[0], said


def _file_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_mode: int) -> bool:
    inbox = tmp_path / "in"
    _drop(inbox / "export", 0o755, file_mode=file_mode)
    inbox.chmod(0o755)
    return "export/forged.dcm" in _candidates(tmp_path, monkeypatch, inbox)


@pytest.mark.req("SRS-219")
def test_d3_a_file_every_account_can_write_is_no_longer_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin of defect 3, inverted by the lead's fix (candidates() leaves a file with the other-write
    bit in IN and warns once): a 0666 file in a 0755 folder under a 0755 IN is not a candidate."""
    assert not _file_taken(tmp_path, monkeypatch, 0o666)
    assert _file_taken(tmp_path, monkeypatch, 0o644)  # control: the site's own file is taken
    (tmp_path / "in").chmod(0o777)  # control: IN itself open to every account is refused
    with pytest.raises(ConfigError, match="writable by every account"):
        _watcher(tmp_path, monkeypatch, tmp_path / "in")


@pytest.mark.req("SRS-219")
def test_d3_a_file_every_account_can_write_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _file_taken(tmp_path, monkeypatch, 0o666)


# --- SRS-160, SRS-165, SRS-174 ---------------------------------------------------------------

@pytest.mark.req("SRS-160", "SRS-165", "SRS-174")
def test_e01_the_texts_name_tls_and_the_code_takes_tls_only(tmp_path: Path) -> None:
    import yaml

    from device_ai.batch.cluster_security import site_scheduler
    from device_ai.batch.errors import SchedulerNotSecured
    from tests.batch.site_tls import site_credentials

    texts = {r["id"]: r["text"] for r in fast_yaml.safe_load((ROOT / "traceability" / "requirements.yaml").read_text(
        encoding="utf-8"))["software_requirements"] if r["id"] in ("SRS-160", "SRS-165", "SRS-174")}

    def names_tls(text: str) -> bool:
        return "--scheduler tls://HOST:PORT" in text and "tcp://" not in text

    assert all(names_tls(text) for text in texts.values()) and len(texts) == 3
    assert not names_tls(texts["SRS-174"].replace("tls://", "tcp://"))  # control: the old text fails
    settings = Settings(**site_credentials(tmp_path / "tls").device_settings())
    assert site_scheduler("tls://127.0.0.1:9", settings).address == "tls://127.0.0.1:9"
    with pytest.raises(SchedulerNotSecured):
        site_scheduler("tcp://127.0.0.1:9", settings)
    for command in (["analyze"], ["anonymize"], ["validate"]):
        shown = subprocess.run([sys.executable, "-m", "device_ai.cli", *command, "--help"], capture_output=True,
                               text=True, timeout=120, check=True).stdout
        assert "tls://HOST:PORT" in shown and "tcp:// is" in " ".join(shown.split()), command
