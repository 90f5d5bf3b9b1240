"""Byte-preserving edits of a .wslconfig: what ``fix --wslconfig`` changes, line by line.

A file is split into physical lines with their own line ends, as bytes; only the lines an
edit touches are re-encoded, so a comment in another code page keeps its bytes. Two
passes run: :func:`fix_and_set` sets the wanted values and repairs what GD503 reports
(misspelt keys, keys in the wrong section, ``;`` comments, malformed headers of known
sections); :func:`disable_skipped` comments out each line WSL still skips with a warning,
which does not change what WSL reads (it skips them anyway) but silences the warning.
A key continued with a trailing backslash is replaced or commented out as a whole.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from gpudoctor.errors import BadInputError
from gpudoctor.readers.wslconfig import ERROR
from gpudoctor.readers.wslconfig import KNOWN_KEYS
from gpudoctor.readers.wslconfig import KNOWN_SECTIONS
from gpudoctor.readers.wslconfig import Line
from gpudoctor.readers.wslconfig import decode_wslconfig
from gpudoctor.readers.wslconfig import format_size
from gpudoctor.readers.wslconfig import parse_wslconfig
from gpudoctor.readers.wslconfig import split_lines
from gpudoctor.readers.wslconfig import tokenize

_BYTE_LINE = re.compile(rb"\r\n|\n|\r")


def text_for_diff(data: bytes) -> str:
    """The file's text as its author meant it, whatever WSL makes of the encoding."""
    encoding, text, _notes = decode_wslconfig(data)
    if encoding == "utf-16-be-bom":
        return data[2:].decode("utf-16-be", errors="replace")
    if encoding == "utf-16-no-bom":
        little = data[1::2].count(0) >= data[0::2].count(0)
        return data.decode("utf-16-le" if little else "utf-16-be", errors="replace")
    return text or ""


def render_value(key: str, value: int) -> str:
    return str(value) if key == "processors" else format_size(value)


def same_value(key: str, raw: str, value: int) -> bool:
    parsed = parse_wslconfig(f"[wsl2]\n{key}={raw}\n".encode())
    return bool(parsed.value(f"wsl2.{key}") == value)


def as_utf8(data: bytes) -> bytes:
    """UTF-8 bytes WSL reads the same way; UTF-8 files come back unchanged (BOM dropped)."""
    encoding, _text, _notes = decode_wslconfig(data)
    if encoding == "utf-8-bom":
        return data[3:]
    if encoding in ("utf-8", "empty") or not data:
        return data
    return text_for_diff(data).encode("utf-8")


@dataclass
class Doc:
    """Physical lines as bytes, with their own line ends, and the edits planned on them."""

    lines: list[bytes]
    ends: list[bytes]
    newline: bytes
    tokens: list[Line]
    replaced: dict[int, bytes | None] = field(default_factory=dict)
    inserts: dict[int, list[str]] = field(default_factory=dict)

    def span(self, line: Line) -> range:
        """Physical indexes of ``line`` including its backslash continuations."""
        start = line.number - 1
        stop = len(self.lines)
        for token in self.tokens:
            if token.number - 1 > start:
                stop = token.number - 1
                break
        return range(start, stop)

    def comment_out(self, line: Line) -> None:
        for idx in self.span(line):
            raw = self.lines[idx]
            if idx not in self.replaced and raw.strip():
                self.replaced[idx] = b"# " + raw.lstrip(b" \t")

    def replace(self, line: Line, new: str) -> None:
        rng = self.span(line)
        self.replaced[rng[0]] = new.encode("utf-8")
        for idx in rng[1:]:
            self.replaced[idx] = None

    def insert(self, idx: int, text: str) -> None:
        self.inserts.setdefault(idx, []).append(text)

    def render(self) -> bytes:
        out: list[bytes] = []
        count = len(self.lines)
        for idx in range(count + 1):
            if idx in self.inserts:
                if out and out[-1] and not out[-1].endswith((b"\n", b"\r")):
                    out.append(self.newline)
                out.extend(t.encode("utf-8") + self.newline for t in self.inserts[idx])
            if idx == count:
                break
            new = self.replaced.get(idx, self.lines[idx])
            if new is None:
                continue
            out.append(new + self.ends[idx])
        return b"".join(out)


def document(data: bytes) -> Doc:
    """``data`` (UTF-8, maybe with invalid bytes) split into lines WSL counts the same way."""
    lines: list[bytes] = []
    ends: list[bytes] = []
    pos = 0
    for match in _BYTE_LINE.finditer(data):
        lines.append(data[pos : match.start()])
        ends.append(match.group(0))
        pos = match.end()
    lines.append(data[pos:])
    ends.append(b"")
    text = data.decode("utf-8", errors="replace")
    tokens, _ = tokenize(text)
    if len(split_lines(text)) != len(lines):
        raise BadInputError("the file's lines could not be told apart safely; not editing it")
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    return Doc(lines, ends, newline, tokens)


def run_pass(data: bytes, edit: Callable[[Doc], None]) -> bytes:
    doc = document(data)
    edit(doc)
    return doc.render()


def _canonical(name: str) -> tuple[str, str] | None:
    """``(section, Key)`` that a key name (maybe misspelt) means, or None when unknown."""
    for section in KNOWN_SECTIONS:
        hit = KNOWN_KEYS.get(f"{section}.{name}".lower())
        if hit:
            head, key = hit[0].split(".", 1)
            return head, key
    names = {canon.split(".", 1)[1]: canon.split(".", 1)[0] for canon, _ in KNOWN_KEYS.values()}
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.8)
    if close:
        key = lowered[close[0]]
        return names[key], key
    return None


def _header_repair(text: str) -> str | None:
    """``[wsl2`` / ``[ wsl2 ]`` / ``[wsl2] x`` -> ``[wsl2]`` when a known section is meant."""
    inside = text.strip()[1:].split("]", 1)[0].split("#", 1)[0]
    name = re.sub(r"[^A-Za-z0-9]", "", inside).lower()
    return f"[{name}]" if name in KNOWN_SECTIONS else None


def _is_header(token: Line) -> bool:
    return token.kind == "section" or (
        token.kind == "invalid" and token.text.lstrip(" \t").startswith("[")
    )


def _section_ends(doc: Doc) -> dict[str, int]:
    """Index after the last line of the first valid block of each section."""
    ends: dict[str, int] = {}
    current: str | None = None
    for token in doc.tokens:
        if token.kind == "section":
            current = token.section if token.section not in ends else None
            if current is not None:
                ends[current] = doc.span(token)[-1] + 1
        elif _is_header(token):
            current = None
        elif current is not None and token.kind in ("key", "invalid"):
            ends[current] = doc.span(token)[-1] + 1
    return ends


def _already_set(doc: Doc, head: str, canon: str) -> bool:
    slot = f"{head}.{canon}".lower()
    for token in doc.tokens:
        if token.kind == "key" and token.section == head:
            hit = KNOWN_KEYS.get(f"{head}.{token.name}".lower())
            if hit and hit[0].lower() == slot:
                return True
    return False


def repair_syntax(doc: Doc, changes: list[str]) -> None:
    """``;`` comments become ``#``; a malformed header of a known section is rewritten."""
    for token in doc.tokens:
        raw = token.text.lstrip(" \t")
        idx = token.number - 1
        if token.kind == "invalid" and raw.startswith(";"):
            doc.replaced[idx] = b"#" + doc.lines[idx].lstrip(b" \t")[1:]
            changes.append(f"line {token.number}: ';' is not a comment in .wslconfig; now '#'")
        elif token.kind == "invalid" and raw.startswith("["):
            fixed = _header_repair(raw)
            if fixed:
                doc.replace(token, fixed)
                changes.append(f"line {token.number}: malformed header {raw.strip()!r} -> {fixed}")


def fix_and_set(doc: Doc, wanted: dict[str, int], changes: list[str]) -> None:
    """Set the wanted values; repair typos, misplaced keys, ';' comments, broken headers."""
    done: set[str] = set()
    moved: dict[str, list[str]] = {}
    set_here: set[str] = set()
    for token in doc.tokens:
        raw = token.text.lstrip(" \t")
        if token.kind != "key":
            continue
        key = token.name.lower()
        section = token.section
        indent = token.text[: len(token.text) - len(raw)]
        name = token.name
        if section == "wsl2" and key not in wanted and not KNOWN_KEYS.get(f"wsl2.{key}"):
            meant_here = _canonical(token.name)
            if meant_here and meant_here[0] == "wsl2" and meant_here[1].lower() in wanted:
                key, name = meant_here[1].lower(), meant_here[1]  # "memmory" means memory
        if key in wanted:
            if section == "wsl2" and key not in done:
                done.add(key)
                if name == token.name and same_value(key, token.value, wanted[key]):
                    continue
                new = f"{indent}{name}={render_value(key, wanted[key])}{token.comment}"
                doc.replace(token, new)
                changes.append(f"line {token.number}: {raw.strip()} -> {new.strip()}")
            elif section != "wsl2":
                doc.comment_out(token)
                where = "outside any section" if section is None else f"under [{section}]"
                changes.append(f"line {token.number}: {key} was {where}; moved under [wsl2]")
            continue
        if section is not None and KNOWN_KEYS.get(f"{section}.{token.name}".lower()):
            continue  # a key WSL knows, where it belongs
        if section is not None and section not in KNOWN_SECTIONS:
            continue  # under an unknown or broken section: the second pass disables it
        meant = _canonical(token.name)
        if meant is None:
            continue
        head, canon = meant
        slot = f"{head}.{canon}".lower()
        if slot in set_here or _already_set(doc, head, canon):
            continue  # a duplicate: the second pass disables it
        set_here.add(slot)
        value_text = raw[len(token.name) :].lstrip(" \t")[1:].lstrip(" \t")
        if len(doc.span(token)) > 1:
            continue  # continued over lines: left to the second pass
        if head == section:
            doc.replace(token, f"{indent}{canon}={value_text}")
            changes.append(f"line {token.number}: {token.name} -> {canon} (misspelt key)")
            continue
        doc.comment_out(token)
        moved.setdefault(head, []).append(f"{canon}={value_text}")
        where = "outside any section" if section is None else f"under [{section}]"
        changes.append(f"line {token.number}: {token.name} was {where}; moved under [{head}]")
    missing = [k for k in wanted if k not in done]
    if missing:
        added = [f"{k}={render_value(k, wanted[k])}" for k in missing]
        moved.setdefault("wsl2", []).extend(added)
        changes.append("add under [wsl2]: " + ", ".join(added))
    _insert_moved(doc, moved)


def _insert_moved(doc: Doc, moved: dict[str, list[str]]) -> None:
    ends = _section_ends(doc)
    # Into existing sections first, then new sections at the very end, each after the last.
    for head in sorted(moved, key=lambda h: h not in ends):
        entries = moved[head]
        if head in ends:
            for entry in entries:
                doc.insert(ends[head], entry)
            continue
        end = len(doc.lines)
        if len(doc.lines) > 1 and doc.lines[-1] == b"":
            end -= 1  # before the empty piece after the final newline
            doc.ends[end - 1] = doc.ends[end - 1] or doc.newline
        if any(line.strip() for line in doc.lines) or end in doc.inserts:
            doc.insert(end, "")
        doc.insert(end, f"[{head}]")
        for entry in entries:
            doc.insert(end, entry)


def disable_skipped(doc: Doc, changes: list[str]) -> None:
    """Comment out each line WSL skips with a warning: same meaning, no warning left."""
    parsed = parse_wslconfig(b"\n".join(doc.lines))
    bad = {d.line for d in parsed.diagnostics if d.severity == ERROR and d.line > 0}
    if not bad:
        return
    active: dict[int, bool] = {}
    header: int | None = None
    for token in doc.tokens:
        if _is_header(token):
            header = token.number
            active[header] = False
        elif token.kind in ("key", "invalid") and token.number not in bad and header is not None:
            active[header] = True
    by_number = {t.number: t for t in doc.tokens}
    for number in sorted(bad):
        found = by_number.get(number)
        if found is None or (_is_header(found) and active.get(number, False)):
            continue  # commenting a header out would move the keys below it
        doc.comment_out(found)
        shown = found.text.strip()[:60]
        changes.append(f"{shown!r}: WSL skips this line with a warning; commented out")
