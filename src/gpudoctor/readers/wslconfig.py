"""Read a Windows ``.wslconfig`` the way WSL itself does, and say what happens to every line.

WSL never refuses to start over a bad ``.wslconfig``: it warns once on the stderr of the
``wsl.exe`` call that boots the VM (which users rarely see), skips the line and keeps its
default. So a typo silently turns a 24 GB cap back into "half the host RAM". This module
mirrors WSL's reader (encoding sniffing, section and key syntax, escapes, value types,
first-occurrence-wins duplicates) so that a doctor can show each of those silent decisions
with its line number. It is pure: bytes in, a :class:`ParsedConfig` out, and it never raises.

The rules follow WSL's own parser (``configfile.cpp``, ``WslCoreConfig.cpp``,
``ParseMemorySize``) as of WSL 2.5.9 to 2.9.x; see ``checks/GD503.md``.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any

KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4

#: Size suffixes WSL accepts: exactly these, upper case, binary.
SIZE_UNITS = {"": 1, "B": 1, "K": KiB, "KB": KiB, "M": MiB, "MB": MiB, "G": GiB, "GB": GiB}
SIZE_UNITS.update({"T": TiB, "TB": TiB})
#: WSL clamps a configured memory size to at least this.
MIN_VM_MEMORY = 256 * MiB

# Value kinds WSL knows.
SIZE, BOOL, INT, ENUM, TEXT, PATH, MAC, IPV4 = (
    "size",
    "bool",
    "int",
    "enum",
    "text",
    "path",
    "mac",
    "ipv4",
)

_WSL2_KEYS = {
    "kernel": PATH,
    "kernelModules": PATH,
    "systemDistro": PATH,
    "kernelCommandLine": TEXT,
    "swapFile": PATH,
    "defaultVhdSize": SIZE,
    "loadDefaultKernelModules": BOOL,
    "loadKernelModules": TEXT,
    "memory": SIZE,
    "swap": SIZE,
    "processors": INT,
    "localhostForwarding": BOOL,
    "networkingMode": ENUM,
    "vmSwitch": TEXT,
    "macAddress": MAC,
    "dhcp": BOOL,
    "dhcpTimeout": INT,
    "ipv6": BOOL,
    "dnsProxy": BOOL,
    "dnsTunneling": BOOL,
    "autoProxy": BOOL,
    "firewall": BOOL,
    "nestedVirtualization": BOOL,
    "virtio": BOOL,
    "virtiofs": BOOL,
    "virtio9p": BOOL,
    "gpuSupport": BOOL,
    "guiApplications": BOOL,
    "hostFileSystemAccess": BOOL,
    "hardwarePerformanceCounters": BOOL,
    "debugConsole": BOOL,
    "debugConsoleLogFile": PATH,
    "earlyBootLogging": BOOL,
    "kernelDebugPort": INT,
    "telemetry": BOOL,
    "vmIdleTimeout": INT,
    "kernelBootTimeout": INT,
    "distributionStartTimeout": INT,
    "mountDeviceTimeout": INT,
    "safeMode": BOOL,
    "crashDumpFolder": PATH,
    "maxCrashDumpCount": INT,
    "isolateDistroCgroup": BOOL,
}
_EXPERIMENTAL_KEYS = {
    "autoMemoryReclaim": ENUM,
    "sparseVhd": BOOL,
    "bestEffortDnsParsing": BOOL,
    "dnsTunnelingIpAddress": IPV4,
    "initialAutoProxyTimeout": INT,
    "ignoredPorts": TEXT,
    "hostAddressLoopback": BOOL,
    "setVersionDebug": BOOL,
    "swiotlb": SIZE,
    "virtioFsAggregateShares": BOOL,
}
_GENERAL_KEYS = {"distributionInstallPath": PATH, "instanceIdleTimeout": INT}
#: Keys accepted in [experimental] that mean the same setting as in [wsl2].
_ALIASES = {
    f"experimental.{name.lower()}": f"wsl2.{name}"
    for name in ("networkingMode", "dnsTunneling", "firewall", "autoProxy")
}

#: Canonical "section.key" spelling -> kind, looked up case-insensitively.
KNOWN_KEYS: dict[str, tuple[str, str]] = {}
for _section, _table in (
    ("wsl2", _WSL2_KEYS),
    ("experimental", _EXPERIMENTAL_KEYS),
    ("general", _GENERAL_KEYS),
):
    for _key, _kind in _table.items():
        KNOWN_KEYS[f"{_section}.{_key}".lower()] = (f"{_section}.{_key}", _kind)
for _alias, _target in _ALIASES.items():
    KNOWN_KEYS[_alias] = (_target, KNOWN_KEYS[_target.lower()][1])

KNOWN_SECTIONS = ("wsl2", "experimental", "general")
#: Sections of the per-distro /etc/wsl.conf, often pasted into .wslconfig by mistake.
WSL_CONF_SECTIONS = ("automount", "network", "interop", "user", "boot", "gpu", "time")
ENUM_VALUES = {
    "wsl2.networkingMode": ("None", "Nat", "Bridged", "Mirrored", "Consomme", "VirtioProxy"),
    "wsl2.autoMemoryReclaim": ("Disabled", "Gradual", "DropCache"),
    "experimental.autoMemoryReclaim": ("Disabled", "Gradual", "DropCache"),
}
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "b": "\b"}

# Diagnostic severities: "error" = WSL drops the line, the key or the whole file;
# "warning" = WSL applies it, but not as the user probably meant; "note" = worth knowing.
ERROR, WARNING, NOTE = "error", "warning", "note"


@dataclass(frozen=True)
class Diagnostic:
    """One thing WSL will do differently from what the file seems to say."""

    line: int  # 1-based; 0 means the whole file
    severity: str
    code: str
    message: str
    #: The key the line sets, as written ("" for headers, comments and whole-file notes).
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "line": self.line,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }
        if self.key:
            data["key"] = self.key
        return data


@dataclass(frozen=True)
class Setting:
    """A key WSL reads: where, as written, and the value it uses (None when invalid)."""

    name: str  # canonical "wsl2.memory"
    key: str  # as written
    raw: str
    value: Any
    line: int
    valid: bool


@dataclass
class ParsedConfig:
    """What WSL makes of a .wslconfig: encoding, settings in effect, and every diagnostic."""

    encoding: str
    readable: bool
    settings: dict[str, Setting] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    newline: str = "\n"

    def value(self, name: str) -> Any:
        """The value WSL uses for ``section.key`` when valid, else None (WSL's default)."""
        setting = self.settings.get(name.lower())
        return setting.value if setting is not None and setting.valid else None

    @property
    def memory_bytes(self) -> int | None:
        value = self.value("wsl2.memory")
        return value if isinstance(value, int) else None

    @property
    def swap_bytes(self) -> int | None:
        value = self.value("wsl2.swap")
        return value if isinstance(value, int) else None

    @property
    def processors(self) -> int | None:
        value = self.value("wsl2.processors")
        return value if isinstance(value, int) else None

    def problems(self, *severities: str) -> list[Diagnostic]:
        wanted = severities or (ERROR, WARNING)
        return [d for d in self.diagnostics if d.severity in wanted]

    def to_json(self) -> dict[str, Any]:
        """JSON facts: what a check needs without the file's bytes (values stay ASCII)."""
        return {
            "encoding": self.encoding,
            "readable": self.readable,
            "sections": list(self.sections),
            "settings": {
                s.name: {
                    "line": s.line,
                    "raw": s.raw,
                    "valid": s.valid,
                    "value": s.value if isinstance(s.value, (int, bool, str)) else None,
                }
                for s in self.settings.values()
            },
            "memory_bytes": self.memory_bytes,
            "swap_bytes": self.swap_bytes,
            "processors": self.processors,
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


# -- encodings --------------------------------------------------------------------------


def decode_wslconfig(data: bytes) -> tuple[str, str | None, list[Diagnostic]]:
    """Decode like the CRT's ``ccs=UTF-8`` text mode: ``(encoding, text or None, notes)``.

    ``None`` text means WSL cannot open the file at all and uses every default.
    """
    notes: list[Diagnostic] = []
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="replace")
        notes.append(
            Diagnostic(
                0,
                NOTE,
                "utf8-bom",
                "the file starts with a UTF-8 byte order mark: current WSL reads it, but the "
                "in-box WSL of Windows 10 ignored such files; save it as UTF-8 without BOM",
            )
        )
        encoding = "utf-8-bom"
    elif data.startswith(b"\xff\xfe"):
        body = data[2:]
        text = body[: len(body) - len(body) % 2].decode("utf-16-le", errors="replace")
        notes.append(
            Diagnostic(
                0,
                WARNING,
                "utf16-le",
                "the file is UTF-16 (little endian, with BOM), as Windows PowerShell 5 writes "
                "it: current WSL reads it, older WSL ignores it completely, and the WSL "
                "Settings app can overwrite its BOM so that the next read ignores it; save it "
                "as UTF-8 without BOM",
            )
        )
        encoding = "utf-16-le-bom"
    elif data.startswith(b"\xfe\xff"):
        notes.append(
            Diagnostic(
                0,
                ERROR,
                "utf16-be",
                "the file is UTF-16 big endian: WSL cannot open it and ignores every line, "
                "so all settings are at their defaults; save it as UTF-8 without BOM",
            )
        )
        return "utf-16-be-bom", None, notes
    else:
        encoding = "utf-8"
        if _looks_like_utf16_without_bom(data):
            encoding = "utf-16-no-bom"
            notes.append(
                Diagnostic(
                    0,
                    ERROR,
                    "utf16-no-bom",
                    "the file is UTF-16 without a byte order mark: WSL reads it as UTF-8 with "
                    "NUL bytes between the letters, so no line is valid and every setting is "
                    "at its default; save it as UTF-8 without BOM",
                )
            )
        text = data.decode("utf-8", errors="replace")
        if encoding == "utf-8" and "\ufffd" in text and "\ufffd".encode() not in data:
            notes.append(
                Diagnostic(
                    0,
                    WARNING,
                    "invalid-utf8",
                    "the file has bytes that are not valid UTF-8 (another code page?): WSL "
                    "replaces them and may stop reading early; keep the file plain ASCII",
                )
            )
    return encoding, text, notes


def _looks_like_utf16_without_bom(data: bytes) -> bool:
    sample = data[:512]
    if len(sample) < 4:
        return False
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample[1::2].count(0)
    half = len(sample) // 2
    return max(zeros_even, zeros_odd) >= 0.4 * half and min(zeros_even, zeros_odd) < 0.1 * half


# -- values -----------------------------------------------------------------------------

_SIZE_RE = re.compile(r"([+-]?)([0-9]+)([A-Za-z]*)")


def parse_size(text: str) -> tuple[int | None, str]:
    """A size as WSL reads it: ``(bytes, "")`` or ``(None, why it is invalid)``.

    Base-10 digits and one of ``B K KB M MB G GB T TB`` (upper case, binary units); a bare
    number is bytes. ``16 GB``, ``12.5GB``, ``16gb`` and ``16GiB`` are all invalid.
    """
    stripped = text.lstrip(" \t")
    match = _SIZE_RE.fullmatch(stripped)
    if not match:
        return None, _size_hint(stripped)
    sign, digits, unit = match.groups()
    if unit not in SIZE_UNITS:
        return None, _size_hint(stripped)
    number = int(digits)
    if number == 0 and digits != "0":
        return None, "zero must be written as a single 0"
    value = number * SIZE_UNITS[unit]
    if sign == "-":
        value = -value
    return value % (1 << 64), ""


def _size_hint(text: str) -> str:
    """Why a size is invalid, and how to write what the user meant."""
    loose = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not loose:
        return "a size is a whole number and a unit, e.g. 16GB or 512MB"
    number, unit = loose.groups()
    unit_up = unit.upper().replace("IB", "B")
    if unit_up not in SIZE_UNITS:
        return f"unknown unit {unit!r}: use B, KB, MB, GB or TB (upper case)"
    try:
        exact = float(number) * SIZE_UNITS[unit_up]
    except ValueError:  # pragma: no cover - the regex allows only digits
        return "a size is a whole number and a unit"
    suggestion = format_size(int(exact)) if exact >= 1 else "0"
    if " " in text or "\t" in text:
        reason = "no space is allowed between number and unit"
    elif "." in number:
        reason = "decimals are not allowed"
    elif unit != unit_up:
        reason = "units must be upper case (and are binary: 1GB = 1024 MB)"
    else:
        reason = "invalid size"
    return f"{reason}; write {suggestion}"


def format_size(value: int) -> str:
    """Bytes in WSL's syntax, in the largest unit that divides them (``12884901888`` -> 12GB)."""
    for unit, factor in (("TB", TiB), ("GB", GiB), ("MB", MiB), ("KB", KiB)):
        if value and value % factor == 0:
            return f"{value // factor}{unit}"
    return f"{value}B" if value else "0"


def _parse_int(text: str) -> int | None:
    """``strtol(text, 0)`` without trailing text: hex ``0x10``, octal ``010``; ``08`` fails."""
    match = re.fullmatch(r"[ \t]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    if not match:
        return None
    sign, body = match.groups()
    if body[:2].lower() == "0x":
        number = int(body, 16)
    elif body.startswith("0"):
        number = int(body, 8)
    else:
        number = int(body)
    return -number if sign == "-" else number


def _parse_bool(text: str) -> bool | None:
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def _check_value(name: str, kind: str, raw: str) -> tuple[Any, str]:
    """``(value, "")`` when WSL accepts ``raw`` for the key, else ``(None, reason)``."""
    if kind == SIZE:
        return parse_size(raw)
    if kind == BOOL:
        value = _parse_bool(raw)
        return (value, "") if value is not None else (None, "use true or false")
    if kind == INT:
        number = _parse_int(raw)
        if number is None:
            return None, "not a whole number (a leading 0 means octal, so 08 is invalid)"
        return number, ""
    if kind == ENUM:
        choices = ENUM_VALUES.get(name, ())
        for choice in choices:
            if choice.lower() == raw.lower():
                return choice, ""
        return None, f"valid values: {', '.join(choices)}"
    if kind == MAC:
        if re.fullmatch(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}", raw):
            return raw, ""
        return None, "not a MAC address; WSL refuses to start the VM with it"
    if kind == IPV4:
        parts = raw.split(".")
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return raw, ""
        return None, "not an IPv4 address; WSL also turns DNS tunneling off"
    return raw, ""


# -- lines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One physical line, split the way the fix needs to rewrite it in place."""

    number: int
    text: str
    kind: str  # blank, comment, section, key, invalid
    section: str | None = None  # the section in force (lower case), None before any header
    name: str = ""  # section name or key as written
    value: str = ""  # parsed value (escapes resolved)
    comment: str = ""  # trailing "# ..." with the spaces before it


def split_lines(text: str) -> list[str]:
    """Lines as WSL counts them: CRLF, LF and a lone CR each end one."""
    return re.split(r"\r\n|\n|\r", text)


def _is_letter(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_alnum(ch: str) -> bool:
    return _is_letter(ch) or ("0" <= ch <= "9")


_GARBLED = "\x00garbled"


def tokenize(text: str) -> tuple[list[Line], list[Diagnostic]]:
    """Split decoded text into classified lines, with syntax errors, as WSL's reader does."""
    lines: list[Line] = []
    notes: list[Diagnostic] = []
    physical = split_lines(text)
    section: str | None = None
    index = 0
    while index < len(physical):
        number = index + 1
        line = physical[index]
        index += 1
        body = line.lstrip(" \t")
        if not body:
            lines.append(Line(number, line, "blank", section))
            continue
        if body.startswith("#"):
            lines.append(Line(number, line, "comment", section))
            continue
        if body.startswith("["):
            parsed, problem, garbled = _header(body)
            if parsed is not None:
                section = parsed.lower()
                comment = body[body.index("]") + 1 :]
                lines.append(Line(number, line, "section", section, parsed, comment=comment))
            else:
                if garbled:
                    section = _GARBLED
                tail = body[body.find("]") + 1 :] if "]" in body else ""
                meant = tail.split("=", 1)[0].strip() if "=" in tail else ""
                notes.append(Diagnostic(number, ERROR, "bad-section", problem, meant))
                lines.append(Line(number, line, "invalid", section))
            continue
        key_end = 0
        while key_end < len(body) and _is_alnum(body[key_end]):
            key_end += 1
        if key_end == 0 or not _is_letter(body[0]):
            if body[0] == ";":
                # Meant as a comment; WSL warns "Invalid key name" at each start and skips it.
                notes.append(
                    Diagnostic(
                        number,
                        ERROR,
                        "semicolon-comment",
                        "';' does not start a comment in .wslconfig, only '#' does: WSL "
                        "warns 'Invalid key name' and skips this line",
                    )
                )
            else:
                notes.append(
                    Diagnostic(number, ERROR, "bad-key", "invalid key name; WSL skips this line")
                )
            lines.append(Line(number, line, "invalid", section))
            continue
        key = body[:key_end]
        rest = body[key_end:].lstrip(" \t")
        if not rest.startswith("="):
            notes.append(
                Diagnostic(
                    number,
                    ERROR,
                    "expected-equals",
                    f"expected '=' after {key!r} (key names are letters and digits only, "
                    "no '_', '-' or '.'); WSL skips this line",
                    body.split("=", 1)[0].strip() if "=" in body else key,
                )
            )
            lines.append(Line(number, line, "invalid", section))
            continue
        value, comment, problem, used = _value(rest[1:], physical, index)
        index += used
        if problem:
            notes.append(Diagnostic(number, ERROR, "bad-value-syntax", problem, key))
            lines.append(Line(number, line, "invalid", section, key))
            continue
        lines.append(Line(number, line, "key", section, key, value, comment))
    return lines, notes


def _header(body: str) -> tuple[str | None, str, bool]:
    """``(name, "", False)`` for a valid ``[name]``, else ``(None, why, keys-get-garbled)``."""
    if len(body) < 2 or not _is_letter(body[1]):
        return None, "invalid section name (it must start with a letter)", False
    end = 2
    while end < len(body) and _is_alnum(body[end]):
        end += 1
    name = body[1:end]
    if end >= len(body) or body[end] != "]":
        return None, f"expected ']' after [{name} (names are letters and digits only)", True
    tail = body[end + 1 :].lstrip(" \t")
    if tail and not tail.startswith("#"):
        return None, f"unexpected text after [{name}]", True
    return name, "", False


def _value(text: str, physical: list[str], next_index: int) -> tuple[str, str, str, int]:
    """Parse a value: ``(value, trailing comment, problem, continuation lines used)``."""
    out: list[str] = []
    quoted = False
    keep = 0  # length of out that trailing-whitespace trimming must not cut
    used = 0
    pos = 0
    text = text.lstrip(" \t")
    while True:
        if pos >= len(text):
            if quoted:
                return "", "", 'expected a closing " before the end of the line', used
            break
        ch = text[pos]
        if ch == '"':
            quoted = not quoted
            pos += 1
            keep = len(out)
            continue
        if ch == "\\":
            if pos + 1 >= len(text):
                if next_index + used < len(physical):
                    text = text[:pos] + physical[next_index + used]
                    used += 1
                    continue
                pos += 1
                continue
            nxt = text[pos + 1]
            if nxt not in _ESCAPES:
                return (
                    "",
                    "",
                    f"invalid escape '\\{nxt}': WSL drops the whole line (write Windows paths "
                    "with double backslashes, C:\\\\Users\\\\me)",
                    used,
                )
            out.append(_ESCAPES[nxt])
            pos += 2
            if quoted:
                keep = len(out)
            continue
        if ch == "#" and not quoted:
            comment_start = pos
            while comment_start > 0 and text[comment_start - 1] in " \t":
                comment_start -= 1
            return _trim(out, keep), text[comment_start:], "", used
        out.append(ch)
        pos += 1
        if quoted:
            keep = len(out)
    return _trim(out, keep), "", "", used


def _trim(chars: list[str], keep: int) -> str:
    end = len(chars)
    while end > keep and chars[end - 1] in " \t":
        end -= 1
    return "".join(chars[:end])


# -- the whole file ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _known_names() -> tuple[str, ...]:
    return tuple(sorted({canon.split(".", 1)[1] for canon, _ in KNOWN_KEYS.values()}))


def parse_wslconfig(data: bytes) -> ParsedConfig:
    """What WSL does with ``data`` as ``%UserProfile%\\.wslconfig``. Never raises."""
    try:
        return _parse(data)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not take the doctor down
        return ParsedConfig(
            encoding="unknown",
            readable=False,
            diagnostics=[
                Diagnostic(0, ERROR, "internal", f"gpudoctor could not read the file: {exc!r}")
            ],
        )


def _parse(data: bytes) -> ParsedConfig:
    encoding, text, notes = decode_wslconfig(bytes(data))
    result = ParsedConfig(encoding=encoding, readable=text is not None, diagnostics=notes)
    if text is None:
        return result
    result.newline = "\r\n" if "\r\n" in text else "\n"
    lines, syntax = tokenize(text)
    diagnostics = list(syntax)
    for line in lines:
        if line.kind == "section":
            _check_section(line, result, diagnostics)
        elif line.kind == "key":
            _apply_key(line, result, diagnostics)
    diagnostics.extend(_effect_notes(result))
    result.diagnostics = notes + sorted(diagnostics, key=lambda d: d.line)
    return result


def _check_section(line: Line, result: ParsedConfig, diagnostics: list[Diagnostic]) -> None:
    lowered = line.name.lower()
    if lowered not in result.sections:
        result.sections.append(lowered)
    if lowered in KNOWN_SECTIONS:
        if line.name != lowered and lowered == "wsl2":
            diagnostics.append(
                Diagnostic(
                    line.number, NOTE, "section-case", f"[{line.name}] works: case is ignored"
                )
            )
        return
    if lowered in WSL_CONF_SECTIONS:
        message = (
            f"[{line.name}] is a section of /etc/wsl.conf (inside the distro), not of "
            ".wslconfig: WSL ignores every key under it here (the header alone is harmless)"
        )
    else:
        close = difflib.get_close_matches(lowered, KNOWN_SECTIONS, n=1, cutoff=0.5)
        message = f"unknown section [{line.name}]: WSL ignores every key under it"
        if close:
            message += f" (did you mean [{close[0]}]?)"
    # WSL says nothing about the header itself; only each key under it is skipped.
    diagnostics.append(Diagnostic(line.number, NOTE, "unknown-section", message))


def _apply_key(line: Line, result: ParsedConfig, diagnostics: list[Diagnostic]) -> None:
    section = line.section
    if section == _GARBLED:
        diagnostics.append(
            Diagnostic(
                line.number,
                ERROR,
                "unknown-key",
                f"{line.name!r} follows a malformed section header; WSL ignores it",
                line.name,
            )
        )
        return
    full = f"{section}.{line.name}" if section else line.name
    known = KNOWN_KEYS.get(full.lower())
    if known is None:
        diagnostics.append(
            Diagnostic(line.number, ERROR, "unknown-key", _unknown_key(line), line.name)
        )
        return
    canon, kind = known
    slot = canon.lower()
    first = result.settings.get(slot)
    if first is not None:
        diagnostics.append(
            Diagnostic(
                line.number,
                ERROR,
                "duplicate-key",
                f"{canon} is already set on line {first.line}: WSL keeps the first one and "
                "ignores this line"
                + ("" if first.valid else " (even though the first is invalid)"),
                line.name,
            )
        )
        return
    value, problem = _check_value(canon, kind, line.value)
    valid = not problem
    result.settings[slot] = Setting(canon, line.name, line.value, value, line.number, valid)
    if not valid:
        diagnostics.append(
            Diagnostic(
                line.number,
                ERROR,
                "invalid-value",
                f"invalid value {line.value!r} for {canon}: {problem}; WSL uses the default",
                line.name,
            )
        )
        return
    diagnostics.extend(_value_warnings(line, canon, kind, value))


def _unknown_key(line: Line) -> str:
    section = line.section
    if section is None:
        where = KNOWN_KEYS.get(f"wsl2.{line.name}".lower()) or KNOWN_KEYS.get(
            f"experimental.{line.name}".lower()
        )
        if where:
            head = where[0].split(".")[0]
            return (
                f"{line.name!r} comes before any section header, so WSL ignores it; "
                f"move it under [{head}]"
            )
        return f"{line.name!r} comes before any section header, so WSL ignores it"
    for other in KNOWN_SECTIONS:
        hit = KNOWN_KEYS.get(f"{other}.{line.name}".lower())
        if hit and section in KNOWN_SECTIONS:
            return (
                f"{line.name!r} is not a [{section}] key; it belongs under "
                f"[{hit[0].split('.')[0]}], so WSL ignores it here"
            )
    if section not in KNOWN_SECTIONS:
        return f"{line.name!r} is under the unknown section [{section}]; WSL ignores it"
    if line.name.lower() == "pagereporting":
        return "pageReporting was removed in WSL 1.1.7; WSL ignores it"
    close = difflib.get_close_matches(line.name, _known_names(), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key {section}.{line.name}{hint}; WSL ignores it"


def _value_warnings(line: Line, canon: str, kind: str, value: Any) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    if kind == SIZE and line.value.lstrip().startswith(("-", "+")):
        found.append(
            Diagnostic(
                line.number,
                WARNING,
                "signed-size",
                f"{canon}={line.value}: WSL accepts a sign here, and a negative size wraps "
                "around to a huge number",
            )
        )
    if canon == "wsl2.memory" and isinstance(value, int) and 0 < value < MIN_VM_MEMORY:
        found.append(
            Diagnostic(
                line.number,
                WARNING,
                "memory-too-small",
                f"memory={line.value} is {value} bytes (a bare number means bytes); WSL "
                "raises it to 256MB without a word",
            )
        )
    if kind == PATH and any(ch in line.value for ch in "\t\b\n"):
        found.append(
            Diagnostic(
                line.number,
                WARNING,
                "path-escape",
                f"{canon} contains a TAB, backspace or newline from a single backslash "
                "(\\t, \\b, \\n); write Windows paths with double backslashes",
            )
        )
    if canon == "wsl2.virtio9p" and value is True:
        found.append(
            Diagnostic(
                line.number, WARNING, "ignored-setting", "virtio9p=true is always turned off"
            )
        )
    if canon == "wsl2.safeMode" and value is True:
        found.append(
            Diagnostic(
                line.number,
                WARNING,
                "safe-mode",
                "safeMode=true disables many WSL features (GPU support may be among them)",
            )
        )
    if canon == "wsl2.gpuSupport" and value is False:
        found.append(
            Diagnostic(line.number, WARNING, "gpu-off", "gpuSupport=false hides the GPU from WSL")
        )
    if canon == "wsl2.kernelModules" and line.value:
        found.append(
            Diagnostic(
                line.number,
                NOTE,
                "custom-kernel",
                "kernelModules needs kernel= as well, or the VM does not start",
            )
        )
    if any(ord(ch) > 127 for ch in line.value):
        found.append(
            Diagnostic(
                line.number,
                WARNING,
                "non-ascii",
                f"{canon} has non-ASCII characters, which WSL garbles; keep values ASCII",
            )
        )
    return found


def _effect_notes(result: ParsedConfig) -> list[Diagnostic]:
    notes: list[Diagnostic] = []
    kernel = result.settings.get("wsl2.kernel")
    modules = result.settings.get("wsl2.kernelmodules")
    if modules is not None and modules.valid and modules.value and not (kernel and kernel.value):
        notes.append(
            Diagnostic(
                modules.line,
                ERROR,
                "modules-without-kernel",
                "kernelModules is set without kernel=: the VM fails to start",
            )
        )
    return notes


# -- effective limits --------------------------------------------------------------------


def effective_limits(
    config: ParsedConfig | None, host_ram: int | None, host_cpus: int | None
) -> dict[str, Any]:
    """Memory, swap and processors the VM gets, by WSL's rules; None where host data is unknown.

    memory: unset or 0 -> half the host RAM; else clamped to [256 MB, host RAM], rounded down
    to an even MB count. swap: unset -> a quarter of the VM memory rounded up to a whole GB;
    0 -> none. processors: unset or <= 0 -> all; above the host count -> clamped.
    """
    memory_cfg = config.memory_bytes if config and config.readable else None
    swap_cfg = config.swap_bytes if config and config.readable else None
    cpus_cfg = config.processors if config and config.readable else None
    memory: int | None
    if not memory_cfg:
        memory = host_ram // 2 if host_ram else None
        memory_source = "default (half the host RAM)"
    else:
        memory = max(memory_cfg, MIN_VM_MEMORY)
        if host_ram:
            memory = min(memory, host_ram)
        memory_source = ".wslconfig memory"
    if memory is not None:
        memory = (memory // (2 * MiB)) * 2 * MiB
    if swap_cfg is None:
        swap = -(-(memory // 4) // GiB) * GiB if memory is not None else None
        swap_source = "default (a quarter of the VM memory, rounded up to whole GB)"
    else:
        swap, swap_source = swap_cfg, ".wslconfig swap"
    if cpus_cfg is None or cpus_cfg <= 0:
        processors, cpu_source = host_cpus, "default (all logical processors)"
    else:
        processors = min(cpus_cfg, host_cpus) if host_cpus else cpus_cfg
        cpu_source = ".wslconfig processors"
    return {
        "memory_bytes": memory,
        "memory_source": memory_source,
        "swap_bytes": swap,
        "swap_source": swap_source,
        "processors": processors,
        "processors_source": cpu_source,
    }


# -- /etc/wsl.conf ----------------------------------------------------------------------


def parse_wsl_conf(data: bytes) -> dict[str, Any]:
    """The per-distro ``/etc/wsl.conf``: same syntax, but no BOM handling and the first
    malformed line ends parsing (so later settings are lost). Never raises."""
    try:
        text = bytes(data).decode("utf-8", errors="replace")
        lines, syntax = tokenize(text)
        stop = syntax[0].line if syntax else None
        values: dict[str, str] = {}
        for line in lines:
            if stop is not None and line.number >= stop:
                break
            if line.kind == "key" and line.section not in (None, _GARBLED):
                values.setdefault(f"{line.section}.{line.name.lower()}", line.value)
        diagnostics = []
        if data[:3] == b"\xef\xbb\xbf" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            diagnostics.append(
                Diagnostic(1, ERROR, "bom", "wsl.conf is read without BOM handling: save as UTF-8")
            )
        for line in lines:
            if stop is not None and line.number >= stop:
                break
            if line.kind == "key" and line.section is None:
                diagnostics.append(
                    Diagnostic(
                        line.number,
                        WARNING,
                        "key-before-section",
                        f"{line.name}={line.value} comes before any [section] header, so WSL "
                        "ignores it (a commented-out header?)",
                        line.name,
                    )
                )
        if stop is not None:
            diagnostics.append(
                Diagnostic(
                    stop,
                    ERROR,
                    "parse-stopped",
                    f"{syntax[0].message}; WSL stops reading /etc/wsl.conf here, so every "
                    "later line is ignored",
                )
            )
        return {"values": values, "diagnostics": [d.to_json() for d in diagnostics]}
    except Exception as exc:  # noqa: BLE001
        return {
            "values": {},
            "diagnostics": [Diagnostic(0, ERROR, "internal", repr(exc)).to_json()],
        }
