"""A minimal headless-Chromium driver over the DevTools protocol on a pipe (no extra packages).

Chromium started with ``--remote-debugging-pipe`` reads protocol commands from file descriptor 3
and writes responses and events to file descriptor 4, each message a JSON text ended by a NUL
byte. That is enough to load a page, collect console errors, failed loads and uncaught
exceptions, evaluate an expression and take a screenshot, without a websocket library.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What one page load produced."""

    errors: list[str] = field(default_factory=list)
    value: Any = None
    screenshot_png: bytes = b""


class Chromium:
    """One headless Chromium process driven over the DevTools pipe."""

    def __init__(self, binary: str, *, width: int = 1280, height: int = 900, timeout_s: float = 60.0) -> None:
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self._profile = tempfile.mkdtemp(prefix="device-ai-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child sees the read end of our commands as fd 3 and the write end of its replies as fd 4.
        # close_fds=False: subprocess would close 3 and 4 after preexec_fn; Python's own descriptors are
        # non-inheritable anyway, so nothing else leaks into the browser.
        def _child_fds() -> None:  # runs in the child between fork and exec
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)  # out of the way of 3 and 4 first
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)  # dup2 leaves the new descriptors inheritable
            os.dup2(high_w, 4)
            os.close(high_r)
            os.close(high_w)

        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}", "about:blank"]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=open(os.environ.get("CHROMIUM_LOG", os.devnull), "wb"), preexec_fn=_child_fds, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # --- protocol plumbing
    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode("utf-8") + b"\0")
        return self._next_id

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from Chromium")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        message_id = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout_s
        while True:
            message = self._read_message(deadline)
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        for index, event in enumerate(self._events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self._events.pop(index)
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method and message.get("sessionId") == session:
                return message
            self._events.append(message)

    # --- one page
    def load(self, url: str, expression: str) -> PageReport:
        """Load ``url`` at the configured viewport, evaluate ``expression`` (its value returned by
        value) and take a full-viewport PNG screenshot; collect every error the page reported."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(domain, session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False}, session)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)
        value = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session)
        report = PageReport(value=value.get("result", {}).get("value"), screenshot_png=base64.b64decode(shot["data"]))
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                report.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif event.get("method") == "Runtime.exceptionThrown":
                report.errors.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
            elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                report.errors.append(f"log: {entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        self._events = [e for e in self._events if e.get("sessionId") != session]
        self.call("Target.closeTarget", {"targetId": target})
        return report

    def close(self) -> None:
        try:
            self._send("Browser.close")
        except OSError:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


LAYOUT_PROBE = ("JSON.stringify({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, "
                "tables: document.querySelectorAll('table').length, "
                "stickyHeads: Array.from(document.querySelectorAll('thead th')).filter("
                "th => getComputedStyle(th).position === 'sticky').length, "
                "heads: document.querySelectorAll('thead th').length, "
                "rowAnchors: Array.from(document.querySelectorAll('tbody tr')).filter(tr => tr.id).length, "
                "rows: document.querySelectorAll('tbody tr').length, "
                "external: Array.from(document.querySelectorAll('[src],link[href]')).length})")


def file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()
