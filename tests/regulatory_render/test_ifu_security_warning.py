"""THR-003 (adversarial perturbation of pixel data) has no technical control: the device cannot tell a
crafted image from a real one. Its control is information for safety (ISO 14971 7.1 c): the IFU's
warnings section, as rendered in the package, tells the reader that results are not protected against
deliberately altered images, where images must come from and that every result is read against its
images. The test reads the rendered page, not the YAML, so a template or loader that drops the warning
fails it too."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render.view import TraceView
from tests.regulatory_render.conftest import build_graph, write_run, sample_results

# What the warning must say, each a phrase a reader would look for (case-insensitive)
REQUIRED = ("not protected against deliberately altered images",
            "miss or invent a lesion",
            "site's own modalities and archive",
            "read every result against its images")


def _warnings(graph: dict[str, Any], root: Path) -> list[str]:
    docs = [d for d in DOCUMENTS if d.file == "ifu.html"]
    page = render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={}, files=docs)["ifu.html"]
    section = page.split('id="warnings"', 1)[1].split("</ul>", 1)[0]
    return [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in section.split("<li>")[1:]]


def missing_adversarial_warning(warnings: list[str]) -> list[str]:
    """The required phrases no single warning holds together (all of them in one item)."""
    best = max(warnings, key=lambda w: sum(p in w.lower() for p in REQUIRED), default="")
    return [p for p in REQUIRED if p not in best.lower()]


@pytest.mark.req("SRS-225")
def test_the_rendered_ifu_warns_that_results_are_not_protected_against_altered_images(
        graph: dict[str, Any], project: Path) -> None:
    warnings = _warnings(graph, project)
    assert missing_adversarial_warning(warnings) == []


@pytest.mark.req("SRS-225")
def test_an_ifu_without_the_warning_fails_the_check(project: Path, tmp_path: Path) -> None:
    """Control: the same project with that one warning removed from submission/device.yaml (and one with
    the phrases split over two warnings) is found wanting."""
    for how in ("removed", "split"):
        root = tmp_path / how
        shutil.copytree(project, root)
        path = root / "submission" / "device.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        warnings = data["device"]["ifu"]["warnings"]
        kept = [w for w in warnings if "deliberately altered" not in w]
        assert len(kept) == len(warnings) - 1
        if how == "split":
            kept += ["Results are not protected against deliberately altered images.",
                     "Read every result against its images."]
        data["device"]["ifu"]["warnings"] = kept
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        graph = build_graph(root, write_run(tmp_path / f"{how}.json", root, sample_results()))
        missing = missing_adversarial_warning(_warnings(graph, root))
        assert missing and "site's own modalities and archive" in missing, how
