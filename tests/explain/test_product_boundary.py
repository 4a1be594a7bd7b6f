"""The explanation study stays out of the device (issue 18): `src/device_ai/explain/` holds only
what `device-ai explain` and `analyze --explain` need, and nothing there trains a model.
An architecture rule (DESIGN.md: "Nothing under src/ trains a model except training/"), not a
software requirement: no requirement ID is claimed."""

from __future__ import annotations

import re
from pathlib import Path

EXPLAIN = Path(__file__).resolve().parents[2] / "src" / "device_ai" / "explain"
PRODUCT_MODULES = {"__init__.py", "consistency.py", "gradcam.py", "outputs.py", "pipeline.py", "recorded.py",
                   "render.py"}
TRAINING = re.compile(r"torch\.optim|optimizer|\.step\(\)|train_model|train_and_release|\.train\(\)")


def test_the_explain_package_holds_only_the_released_explanation() -> None:
    """Study code (variant grids, sanity models, faithfulness metrics, occlusion) belongs in
    `validation/explain/study/`, which is not installed with the device."""
    found = {p.name for p in EXPLAIN.iterdir() if p.name != "__pycache__"}
    assert found == PRODUCT_MODULES, f"unexpected: {sorted(found - PRODUCT_MODULES)}, missing: {sorted(PRODUCT_MODULES - found)}"


def test_nothing_in_the_explain_package_trains_a_model() -> None:
    offending = [f"{path.name}:{number}: {line.strip()}"
                 for path in sorted(EXPLAIN.glob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if TRAINING.search(line)]
    assert offending == []
