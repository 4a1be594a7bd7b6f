"""``python -m validation.external_phantoms --out DIR --count N --base-seed S``

Writes seeds S..S+N-1, one folder per case (``EXT-<seed>/ct``, ``seg.dcm``, ``parameters.json``),
and ``index.json`` listing them. Refuses an existing non-empty DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .dicom_io import write_case
from .generator import GENERATOR_NAME, GENERATOR_VERSION, generate, patient_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.external_phantoms",
                                     description="Clean-room synthetic CT phantoms for external validation only "
                                                 "(never for training or model selection).")
    parser.add_argument("--out", required=True, type=Path, help="output folder (must not exist or be empty)")
    parser.add_argument("--count", required=True, type=int, help="number of cases")
    parser.add_argument("--base-seed", required=True, type=int, help="first seed; cases use seeds S..S+N-1")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.base_seed < 0:
        parser.error("--base-seed must be non-negative")
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        print(f"refusing to write into {out}: it exists and is not an empty folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for seed in range(args.base_seed, args.base_seed + args.count):
        case = generate(seed)
        folder = write_case(case, out / patient_id(seed))
        p = case.parameters
        cases.append({"seed": seed, "folder": folder.name, "patient_id": p["patient_id"],
                      "lesion_count": p["lesion_count"], "slices": p["acquisition"]["slices"],
                      "matrix": p["acquisition"]["matrix"]})
        print(f"{folder.name}: {p['acquisition']['matrix']}x{p['acquisition']['matrix']}x{p['acquisition']['slices']}, "
              f"{p['lesion_count']} lesion(s)", flush=True)
    index = {"generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
             "base_seed": args.base_seed, "count": args.count,
             "use": "external validation only; never for training or model selection", "cases": cases}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
