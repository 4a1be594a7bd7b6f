"""Sphinx configuration of the device_ai documentation site (``make docs``).

The hand-written pages of ``docs/`` (MyST Markdown) and what ``device-ai report docs`` writes into
``docs/generated/`` (ignored by git): the submission package's own files under ``extra/package/``,
copied as-is to ``package/`` of the site (``html_extra_path``), and a MyST index page of them
(``generated/index.md``). Offline by design: no
extension that downloads, no intersphinx inventories, no wall-clock date on the pages. Warnings
are errors (``sphinx-build -W``).
"""

from importlib.metadata import version as _version

project = "device_ai"
author = "device_ai"
copyright = "device_ai authors"  # noqa: A001 (Sphinx's name)
release = _version("device-ai")
version = release

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
myst_enable_extensions: list[str] = []
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"device_ai {release}"
html_last_updated_fmt = None
html_show_sourcelink = False
# the package's files, published byte for byte (no second renderer): _build/html/package/
html_extra_path = ["generated/extra"]
html_theme_options = {"page_width": "1280px", "sidebar_width": "240px"}
