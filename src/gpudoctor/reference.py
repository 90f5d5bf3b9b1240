"""Reference pages: one Markdown page per check, shipped in the wheel."""

from __future__ import annotations

from pathlib import Path

from gpudoctor.declare import CheckSpec


def _page_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    # Installed wheel: pages are packaged as gpudoctor/_reference. Source checkout or
    # editable install: they live in the top-level checks/ folder.
    return [here / "_reference", here.parent.parent / "checks"]


def page_path(check_id: str) -> Path | None:
    for folder in _page_dirs():
        candidate = folder / f"{check_id}.md"
        if candidate.is_file():
            return candidate
    return None


def reference_page(spec: CheckSpec) -> str:
    """The page's text; for a plugin check without a page, what its declaration says."""
    path = page_path(spec.id) if spec.origin == "gpudoctor" else None
    if path is not None:
        return path.read_text(encoding="utf-8")
    lines = [f"# {spec.id} {spec.name}", "", spec.summary, ""]
    if spec.doc:
        lines += [spec.doc, ""]
    if spec.reference and not spec.reference.startswith("checks/"):
        lines += [f"Reference: {spec.reference}", ""]
    lines.append(f"Provided by: {spec.origin}")
    return "\n".join(lines)
