"""Privacy by default: take personal data out of a report or snapshot before anyone sees it.

People paste gpudoctor output into public bug tickets. Everything that leaves the process
(snapshot, every report format) goes through :class:`Redactor`, which walks the JSON-like
document and replaces, consistently across the whole document:

- the user's name, home directory and host name with ``<user>``, ``<home>``, ``<host>``;
- other people's names in home and Windows profile paths with ``<user-2>``, ``<user-3>`` ...;
- IPv4/IPv6 addresses with ``<ip-1>`` ..., MAC addresses with ``<mac-1>`` ...;
- GPU and MIG UUIDs with ``GPU-<uuid-1>`` / ``MIG-<uuid-1>``, serial numbers with
  ``<serial-1>``.

Secrets are withheld whether or not redaction is on (``--no-redact`` keeps identities, never
secrets): values under secret-looking keys, credentials in URLs, well-known token shapes and
secret-looking values of environment variables.

The identity (user names, homes, host names) is discovered once per process and can be
injected for tests.
"""

from __future__ import annotations

import getpass
import os
import platform
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SECRET_SHAPES = (
    re.compile(r"(?i)(token|secret|passw(or)?d|api[_-]?key|bearer)"),
    re.compile(r"[A-Za-z0-9_\-]{32,}"),  # long opaque strings: keys and tokens
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # credentials in a URL
)

REDACTED = "<redacted: looks like a secret>"


def looks_secret(value: str) -> bool:
    """True for values shaped like keys, tokens or URLs with passwords."""
    return any(shape.search(value) for shape in _SECRET_SHAPES)


#: What ``--no-redact`` puts back, for its warning.
NOT_REDACTED_WITH_FLAG = (
    "user name",
    "home directory paths",
    "host name",
    "IP and MAC addresses",
    "GPU UUIDs and serial numbers",
    "other users' names in paths and process lists",
)

#: User names too common to replace as plain words; they are replaced inside paths only.
_GENERIC_NAMES = frozenset(
    {"root", "user", "admin", "administrator", "ubuntu", "debian", "guest", "default", "public"}
)
#: Windows profile folders that are not a person.
_SHARED_PROFILES = frozenset({"public", "default", "default user", "all users", "defaultapppool"})
_MIN_WORD_LENGTH = 3

_SECRET_KEY = re.compile(
    r"(?i)(token|secret|passw(or)?d|passwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"credential|authorization|cookie|session[_-]?id)"
)
_IDENTITY_KEYS = {"user", "username", "user_name", "owner", "login", "uid_name"}
_HOST_KEYS = {"hostname", "host_name", "node", "nodename", "computername", "fqdn"}
_SERIAL_KEY = re.compile(r"(?i)serial")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NO_NETWORK_KEY = re.compile(r"(?i)version|packages|cpu_info|lscpu")

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@<>]+:[^/\s@]+@")
_TOKEN_SHAPES = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|"
    r"glpat-[A-Za-z0-9_\-]{16,}|sk-[A-Za-z0-9_\-]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{30,}|"
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"
)
# Long opaque runs (API keys, hex tokens); _opaque() decides whether one is random enough.
_OPAQUE_CANDIDATE = re.compile(r"(?<![\w.\-/])[A-Za-z0-9+_\-]{32,}={0,2}(?![\w.\-/])")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY)"
    r"[A-Z0-9_]*)(\s*[=:](?!=)\s*)(?!<redacted)(\"[^\"]*\"|'[^']*'|[^\s,;]+)"
)
_GPU_UUID = re.compile(
    r"\b(GPU|MIG)-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b"
)
_BARE_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_MAC = re.compile(
    r"(?<![\w\-])(?:[0-9A-Fa-f]{2}([:\-]))(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w\-])"
)
# A dotted quad that is not part of a longer dotted version ("12.4.5.8.1") nor a pinned
# package version ("cublas==12.4.5.8", "v1.2.3.4", "cu12-12.4.5.8").
_IPV4 = re.compile(
    r"(?<![\w.=~+\-])((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})"
    r"(?![\w.+\-])"
)
_IPV6 = re.compile(
    r"(?<![\w:.])("
    r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:"
    r"|::(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}"
    r")(?![\w:])"
)
_WINDOWS_PROFILE = re.compile(r"(?i)\b([A-Z]:[\\/]+Users[\\/]+)([^\\/\s\"'<>:;|]+)")
_WSL_PROFILE = re.compile(r"(/mnt/[a-z]/Users/)([^/\s\"'<>:;|]+)", re.IGNORECASE)
_UNIX_HOME = re.compile(r"(?<![\w.])(/home/|/Users/)([^/\s\"'<>:;|]+)")
_KEEP_IPS = frozenset({"0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1"})


def _opaque(match: re.Match[str]) -> str:
    """Withhold a long run that mixes many digits and letters: a key, not a word."""
    run = match.group(0)
    digits = sum(c.isdigit() for c in run)
    letters = sum(c.isalpha() for c in run)
    return REDACTED if digits >= 4 and letters >= 8 else run


@dataclass(frozen=True)
class Identity:
    """Who and where this machine is: the strings that must never reach a ticket."""

    users: tuple[str, ...] = ()
    homes: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return tuple(seen)


def discover_identity(env: Mapping[str, str] | None = None) -> Identity:
    """The current user's names, home directories and host names, from every usual source."""
    environ = os.environ if env is None else env
    users: list[str | None] = [environ.get(k) for k in ("USER", "LOGNAME", "USERNAME")]
    homes: list[str | None] = [environ.get(k) for k in ("HOME", "USERPROFILE")]
    try:
        users.append(getpass.getuser())
    except (KeyError, OSError, ImportError):
        pass
    try:
        import pwd

        entry = pwd.getpwuid(os.getuid())
        users.append(entry.pw_name)
        homes.append(entry.pw_dir)
    except (ImportError, KeyError, AttributeError, OSError):
        pass
    try:
        homes.append(str(Path.home()))
    except (RuntimeError, KeyError, OSError):
        pass
    hosts: list[str | None] = [
        platform.node(),
        environ.get("HOSTNAME"),
        environ.get("COMPUTERNAME"),
    ]
    try:
        hosts.append(socket.gethostname())
    except OSError:
        pass
    hosts += [h.split(".")[0] for h in list(hosts) if h]
    homes = [h.rstrip("/\\") for h in homes if h and h.rstrip("/\\")]
    return Identity(users=_unique(users), homes=_unique(homes), hosts=_unique(hosts))


_IDENTITY: Identity | None = None


def current_identity() -> Identity:
    """:func:`discover_identity`, computed once per process."""
    global _IDENTITY
    if _IDENTITY is None:
        _IDENTITY = discover_identity()
    return _IDENTITY


@dataclass
class Redactor:
    """Redacts one document; placeholders stay stable across everything it is given.

    With ``identities=False`` (``--no-redact``) only secrets are withheld.
    """

    identity: Identity = field(default_factory=current_identity)
    identities: bool = True
    _numbers: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    # -- placeholders ------------------------------------------------------------------
    def _placeholder(self, kind: str, value: str, template: str) -> str:
        table = self._numbers.setdefault(kind, {})
        key = value.lower()
        if key not in table:
            table[key] = template.format(n=len(table) + 1)
        return table[key]

    def _other_user(self, name: str) -> str:
        if any(name.lower() == u.lower() for u in self.identity.users):
            return "<user>"
        if name.startswith("<") or name.lower() in _SHARED_PROFILES:
            return name
        # Numbering starts at 2: <user> is the person running gpudoctor.
        table = self._numbers.setdefault("user", {})
        key = name.lower()
        if key not in table:
            table[key] = f"<user-{len(table) + 2}>"
        return table[key]

    # -- strings -------------------------------------------------------------------------
    def scrub_secrets(self, text: str) -> str:
        """Withhold credentials in URLs, known token shapes and ``SECRET=value`` pairs."""
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
        text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        text = _TOKEN_SHAPES.sub(REDACTED, text)
        return _OPAQUE_CANDIDATE.sub(_opaque, text)

    def text(self, value: str, *, network: bool = True) -> str:
        """One string, with secrets withheld and (unless disabled) identities replaced."""
        value = self.scrub_secrets(value)
        if not self.identities or not value:
            return value
        value = self._paths(value)
        value = self._names(value)
        value = _GPU_UUID.sub(
            lambda m: f"{m.group(1)}-" + self._placeholder("uuid", m.group(2), "<uuid-{n}>"),
            value,
        )
        value = _BARE_UUID.sub(lambda m: self._placeholder("uuid", m.group(0), "<uuid-{n}>"), value)
        value = _MAC.sub(lambda m: self._placeholder("mac", m.group(0), "<mac-{n}>"), value)
        if network:
            value = _IPV4.sub(self._ip, value)
            value = _IPV6.sub(self._ip, value)
        return value

    def _ip(self, match: re.Match[str]) -> str:
        address = match.group(1) if match.lastindex else match.group(0)
        if address in _KEEP_IPS:
            return match.group(0)
        return self._placeholder("ip", address, "<ip-{n}>")

    def _paths(self, value: str) -> str:
        for home in sorted(self.identity.homes, key=len, reverse=True):
            if len(home) > 1:
                value = re.sub(re.escape(home) + r"(?![\w.\-])", "<home>", value)
        value = _WINDOWS_PROFILE.sub(lambda m: m.group(1) + self._other_user(m.group(2)), value)
        value = _WSL_PROFILE.sub(lambda m: m.group(1) + self._other_user(m.group(2)), value)
        return _UNIX_HOME.sub(lambda m: m.group(1) + self._other_user(m.group(2)), value)

    def _names(self, value: str) -> str:
        for host in sorted(self.identity.hosts, key=len, reverse=True):
            if len(host) >= _MIN_WORD_LENGTH and host.lower() != "localhost":
                value = re.sub(
                    rf"(?<![\w\-]){re.escape(host)}(?![\w\-])", "<host>", value, flags=re.I
                )
        for user in sorted(self.identity.users, key=len, reverse=True):
            if len(user) < _MIN_WORD_LENGTH or user.lower() in _GENERIC_NAMES:
                # Only where it is plainly a path component or an owner ("/root/", "root@").
                value = re.sub(rf"(?<=[/\\]){re.escape(user)}(?=[/\\]|$)", "<user>", value)
                continue
            value = re.sub(rf"(?<![\w\-]){re.escape(user)}(?![\w\-])", "<user>", value, flags=re.I)
        return value

    # -- documents -------------------------------------------------------------------------
    def value(self, data: Any, key: str = "") -> Any:
        """Redact a JSON-like value found under ``key`` (dicts and lists are walked)."""
        if isinstance(data, Mapping):
            return {self.text(str(k)): self.value(v, str(k)) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.value(v, key) for v in data]
        if not isinstance(data, str):
            return data
        return self._keyed_string(data, key)

    def _keyed_string(self, data: str, key: str) -> str:
        lowered = key.lower()
        if key and _SECRET_KEY.search(key) and data:
            return REDACTED
        env_like = _ENV_NAME.match(key) and not lowered.endswith("path")
        if env_like and looks_secret(data) and not data.startswith("<redacted"):
            return REDACTED
        if not self.identities:
            return self.text(data)
        if lowered in _IDENTITY_KEYS and data and not data.startswith("<"):
            return self._other_user(data)
        if lowered in _HOST_KEYS and data and not data.startswith("<"):
            if any(data.lower() == h.lower() for h in self.identity.hosts):
                return "<host>"
            return self._placeholder("host", data, "<host-{n}>")
        if _SERIAL_KEY.search(key) and data and not data.startswith("<"):
            return self._placeholder("serial", data, "<serial-{n}>")
        return self.text(data, network=not _NO_NETWORK_KEY.search(key))


def redact_data(data: Any, *, identity: Identity | None = None, enabled: bool = True) -> Any:
    """A redacted copy of a JSON-like document (one set of placeholders for all of it)."""
    redactor = Redactor(identity or current_identity(), identities=enabled)
    return redactor.value(data)


def no_redact_warning() -> str:
    """The loud notice ``--no-redact`` prints to standard error."""
    return (
        "gpudoctor: WARNING: --no-redact: this output contains your "
        + ", ".join(NOT_REDACTED_WITH_FLAG)
        + " as they are. Do not post it publicly. (Tokens, keys and passwords are still "
        "withheld, and only allow-listed environment variables are included.)"
    )


def redact_report(report: Any, *, identity: Identity | None = None, enabled: bool = True) -> Any:
    """A copy of a :class:`~gpudoctor.runner.Report` safe to print: facts, findings, command.

    One :class:`Redactor` covers the whole report, so ``<ip-1>`` in a finding is the same
    address as ``<ip-1>`` in the facts.
    """
    from gpudoctor.facts.model import Facts, ProbeRecord
    from gpudoctor.model import Finding
    from gpudoctor.runner import Report

    redactor = Redactor(identity or current_identity(), identities=enabled)
    facts = report.facts
    probes = redactor.value(facts.probes_json())
    records = {name: ProbeRecord.from_json(name, rec) for name, rec in probes.items()}
    return Report(
        facts=Facts(redactor.value(facts.to_json()), records, schema_version=facts.schema_version),
        findings=[Finding.from_json(redactor.value(f.to_json())) for f in report.findings],
        command=redactor.text(report.command),
        replayed_from=redactor.text(report.replayed_from),
    )
