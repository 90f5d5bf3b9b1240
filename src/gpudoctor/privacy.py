"""Privacy at the edge: facts stay raw in memory, every output is redacted once, when written.

People paste gpudoctor output into public bug tickets, and gpudoctor runs as root on shared
servers. Checks therefore see the truth (a MIG UUID in ``CUDA_VISIBLE_DEVICES``, a full
command line), and everything that leaves the process (snapshot, every report format, diff)
goes through one :class:`Redactor`, which walks the JSON-like document and:

- withholds secrets, with or without ``--no-redact``: values of secret-named flags and
  settings in every spelling (``--api-key=v``, ``--token v``, ``-p v``, ``KEY=v``,
  ``"password": "v"``, ``X-Api-Key: v``), ``Authorization``/``Bearer``/``Basic`` headers,
  URL user-info and sensitive query parameters, well-known token shapes (``sk-``,
  ``sk-ant-``, ``ghp_``, ``github_pat_``, ``hf_``, ``xox?-``, ``AKIA``, ``glpat-``, JWTs,
  private-key blocks) and long random-looking runs;
- replaces identities, consistently across the whole document: the user's name, home and
  host with ``<user>``, ``<home>``, ``<host>``; other people's names in home paths with
  ``<user-2>`` ...; IPv4/IPv6 (also ``addr=IP``), MAC addresses, e-mail addresses, serial
  numbers, cloud host names (``ip-10-0-0-1``) and GPU/MIG UUIDs with numbered placeholders;
- strips terminal control characters (escape sequences, C1 controls, bidi overrides), so
  another user's process arguments cannot repaint the admin's terminal.

Versions (``9.1.0.70``), git hashes under git/commit keys and wheel tags are kept.

Why our own pattern set and not detect-secrets' plugins: importing detect-secrets and
loading its plugins takes about 120 ms (``python -X importtime``; gpudoctor's whole start-up
budget is a few hundred), pulls in ``requests``, and its keyword plugin is written for
source files: it finds none of ``--api-key=v``, ``--token v``, ``-p v`` or ``?auth=v``.

Every regular expression here is linear in its input: no nested or overlapping quantifiers,
and candidates start only at run boundaries; ``tests/test_privacy_edge.py`` times
adversarial strings. Redaction happens before any truncation (:func:`shorten`).
"""

from __future__ import annotations

import functools
import getpass
import math
import os
import platform
import re
import socket
import sys
from collections.abc import Iterable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

from gpudoctor.lazy_regex import lazy_compile

if TYPE_CHECKING:
    from gpudoctor.model import Finding

REDACTED = "<redacted: looks like a secret>"
#: Longest command line an output shows (after redaction).
CMDLINE_MAX = 160
#: Longest evidence value an output shows (after redaction).
EVIDENCE_MAX = 600
#: Longest string any output shows (after redaction); the rest is cut with a note.
STRING_MAX = 64 * 1024

#: What ``--no-redact`` puts back, for its warning.
NOT_REDACTED_WITH_FLAG = (
    "user name",
    "home directory paths",
    "host name",
    "IP and MAC addresses",
    "e-mail addresses",
    "GPU UUIDs and serial numbers",
    "other users' names in paths and process lists",
)

#: User names that are also ordinary words in a report (Jetson boards log in as ``nvidia``):
#: only their home directory is replaced, never the word.
_GENERIC_NAMES = frozenset(
    {
        "root",
        "user",
        "admin",
        "administrator",
        "ubuntu",
        "debian",
        "guest",
        "default",
        "public",
        "nvidia",
        "cuda",
        "python",
        "docker",
        "torch",
        "jetson",
        "conda",
        "linux",
        "windows",
        "gpu",
        "test",
        "runner",
        "vagrant",
        "ec2-user",
    }
)
#: Windows profile folders that are not a person.
_SHARED_PROFILES = frozenset({"public", "default", "default user", "all users", "defaultapppool"})
_MIN_WORD_LENGTH = 3

# -- control characters -----------------------------------------------------------------

# C0 except TAB and LF, DEL, C1, and the bidi overrides/isolates ("Trojan source").
_ANSI = lazy_compile(
    "\x1b(?:\\[[0-?]{0,64}[ -/]{0,16}[@-~]|\\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\\\)?|[@-Z\\\\-_])"
)
_CONTROL = lazy_compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = lazy_compile("[\ud800-\udfff]")
# Any character the three patterns above start at (ESC is in the control range).
_CONTROL_OR_SURROGATE = lazy_compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def strip_control(text: str) -> str:
    """``text`` without terminal control characters (tab and newline kept) or lone surrogates."""
    if text.isprintable() or not _CONTROL_OR_SURROGATE.search(text):
        # The usual case, in one C scan: a printable text has no control character, no
        # format character (the bidi ones) and no surrogate.
        return text
    text = _CONTROL.sub("", _ANSI.sub("", text))
    return _SURROGATE.sub("\ufffd", text)


def _cut(text: str, limit: int) -> str:
    """Cut a redacted string to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit:,} more characters left out)"


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis; call it after redaction."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


# -- secret names -----------------------------------------------------------------------

#: Substrings of a name (lower case, separators removed) that mark its value as a secret.
_STRONG_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "cookie",
    "signature",
    "authorization",
    "sessionid",
    "clientsecret",
)
#: Whole name segments (split at ``-``, ``_``, ``.`` and camelCase) that do the same.
_WEAK_SEGMENTS = frozenset(
    {"pwd", "pass", "pw", "key", "auth", "sig", "session", "cred", "creds", "sas", "otp", "pin"}
)
#: Names that contain a strong word but are not secrets.
_NOT_SECRET_NAMES = lazy_compile(r"tokeni[sz]|maxtoken|numtoken|ntoken|tokens?per|tokenlen|keyword")
#: Short flags whose value is a password (``mysql -p``, ``sshpass -p``).
_SECRET_SHORT_FLAGS = frozenset({"p"})
_SEGMENT_SPLIT = lazy_compile(r"[-_.]+|(?<=[a-z0-9])(?=[A-Z])")
#: Words after ``Authorization:`` that name the scheme, not the secret.
_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate", "apikey", "otp"})
#: Names whose value is a host: kept as a numbered ``<host-N>``.
_HOST_NAME_WORDS = ("addr", "host", "fqdn", "nodename", "endpoint", "server")


def secret_name(name: str) -> bool:
    """True when a flag, setting or header called ``name`` carries a secret."""
    squashed = re.sub(r"[-_.\s]", "", name).lower()
    if not squashed or _NOT_SECRET_NAMES.search(squashed):
        return False
    if any(word in squashed for word in _STRONG_WORDS):
        return True
    return any(seg.lower() in _WEAK_SEGMENTS for seg in _SEGMENT_SPLIT.split(name) if seg)


def _strong_name(name: str) -> bool:
    squashed = re.sub(r"[-_.\s]", "", name).lower()
    return any(word in squashed for word in _STRONG_WORDS)


#: Values a weakly named setting (``key=``, ``pin=``) has in code, not secrets.
_CODE_WORDS = frozenset({"lambda", "none", "true", "false", "null", "len", "str", "int", "self"})


def _host_name(name: str) -> bool:
    squashed = re.sub(r"[-_.\s]", "", name).lower()
    return any(word in squashed for word in _HOST_NAME_WORDS)


# A name: starts at a run boundary, so a long run of letters is tried once, not per position.
_NAME = lazy_compile(r"(?<![A-Za-z0-9_.])([A-Za-z][A-Za-z0-9_.\-]{0,200})")
#: A name worth a closer look contains one of these (any case).
_NAMED_WORDS = (
    "pass",
    "pw",
    "token",
    "secret",
    "key",
    "auth",
    "cred",
    "cookie",
    "session",
    "sig",
    "sas",
    "otp",
    "pin",
    "addr",
    "host",
    "serv",
    "fqdn",
    "node",
    "endpoint",
)
_ANY_NAMED = lazy_compile("(?i)" + "|".join(_NAMED_WORDS))


def _may_contain(text: str, words: Iterable[str]) -> bool:
    """False only when no ``(?i)`` pattern for one of ``words`` can match in ``text``.

    A cheap test before a pattern's scan: an alternation under ``(?i)`` tries every branch
    at every position, a substring test is one C loop. Exact for ASCII text; for other text
    it answers True (Unicode case folding has twins such as the Kelvin sign for ``k``), so
    the pattern itself decides. ``words`` are lower-case ASCII.
    """
    if not text.isascii():
        return True
    return any(map(text.lower().__contains__, words))  # no Python frame per word


def _any_named(text: str) -> bool:
    """``_ANY_NAMED.search(text)``, answered by substring tests where that is exact."""
    if text.isascii():
        return _may_contain(text, _NAMED_WORDS)
    return _ANY_NAMED.search(text) is not None


_VALUE_STOP = frozenset(" \t\r\n,;&\"'<>)]}|`")
_VALUE_MAX = 4096


def _read_value(text: str, start: int) -> tuple[int, int]:
    """``(begin, end)`` of the value at ``start``: a quoted string or a run up to a stop."""
    if start >= len(text):
        return start, start
    quote = text[start]
    if quote in "\"'":
        end = text.find(quote, start + 1, start + 1 + _VALUE_MAX)
        if end < 0:
            end = min(len(text), start + 1 + _VALUE_MAX)
        return start + 1, end
    end = start
    limit = min(len(text), start + _VALUE_MAX)
    while end < limit and text[end] not in _VALUE_STOP:
        end += 1
    return start, end


def _skip_blanks(text: str, pos: int, limit: int = 16) -> int:
    stop = min(len(text), pos + limit)
    while pos < stop and text[pos] in " \t":
        pos += 1
    return pos


class _Edit(NamedTuple):
    begin: int
    end: int
    replacement: str


def _named_values(text: str, host_value: Any) -> list[_Edit]:
    """Values of secret-named (and host-named) flags, settings and headers."""
    edits: list[_Edit] = []
    if not _any_named(text):
        return edits
    last_end = 0
    for match in _NAME.finditer(text):
        if match.start() < last_end:
            continue
        name = match.group(1).rstrip(".-")
        name_end = match.start() + len(name)
        dashes = 0
        while (
            dashes < 2
            and match.start() - dashes - 1 >= 0
            and text[match.start() - dashes - 1] == "-"
        ):
            dashes += 1
        is_secret = secret_name(name) or (dashes == 1 and name in _SECRET_SHORT_FLAGS)
        is_host = not is_secret and host_value is not None and _host_name(name)
        if not (is_secret or is_host):
            continue
        pos = name_end
        if pos < len(text) and text[pos] in "\"'":
            pos += 1  # "password": "v"
        pos = _skip_blanks(text, pos)
        colon = False
        if pos < len(text) and text[pos] in "=:" and text[pos : pos + 2] not in ("==", "::"):
            colon = text[pos] == ":"
            pos = _skip_blanks(text, pos + 1)
        elif dashes and pos > name_end and pos < len(text) and text[pos] != "-":
            pass  # --token VALUE
        else:
            continue
        begin, end = _read_value(text, pos)
        if end <= begin:
            continue
        word = text[begin:end]
        if is_secret and word.lower() in _AUTH_SCHEMES:
            after = _skip_blanks(text, end)
            if after > end:
                begin, end = _read_value(text, after)
                word = text[begin:end]
        if not word or word.startswith("<") or word.startswith("$") or end <= begin:
            continue
        if is_secret and not _strong_name(name) and (len(word) < 3 or word.lower() in _CODE_WORDS):
            continue  # sorted(x, key=len), pin=0: code, not a secret
        if is_secret:
            edits.append(_Edit(begin, end, REDACTED))
        elif (
            not (colon and not dashes)
            and re.search(r"[A-Za-z]", word)
            and not word.startswith(("/", "\\"))
        ):
            edits.append(_Edit(begin, end, host_value(word)))
        last_end = end
    return edits


def _apply(text: str, edits: list[_Edit]) -> str:
    if not edits:
        return text
    out: list[str] = []
    pos = 0
    for edit in sorted(edits, key=lambda e: e.begin):
        if edit.begin < pos:
            continue
        out.append(text[pos : edit.begin])
        out.append(edit.replacement)
        pos = edit.end
    out.append(text[pos:])
    return "".join(out)


# -- secret shapes ----------------------------------------------------------------------

_PRIVATE_KEY = lazy_compile(
    r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----(?:.*?-----END[A-Z ]{0,40}PRIVATE KEY-----|.*\Z)",
    re.DOTALL,
)
_TOKEN_SHAPES = lazy_compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-ant-[A-Za-z0-9_\-]{8,}|sk-(?:proj-|live-|test-)?[A-Za-z0-9_\-]{16,}|"
    r"(?:rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}|"
    r"hf_[A-Za-z0-9]{12,}|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}|"
    r"glpat-[A-Za-z0-9_\-]{12,}|xox[abposr]-[A-Za-z0-9\-]{8,}|"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{30,}|npm_[A-Za-z0-9]{30,}|"
    r"pypi-[A-Za-z0-9_\-]{30,}|r8_[A-Za-z0-9]{20,}|"
    r"eyJ[A-Za-z0-9_\-]{6,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{0,}"
    r")"
)
#: What every match of :data:`_TOKEN_SHAPES` starts with (the pattern is case-sensitive).
_TOKEN_PREFIXES = (
    "sk-",
    "rk_",
    "pk_",
    "hf_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxo-",
    "xoxs-",
    "xoxr-",
    "AKIA",
    "ASIA",
    "AIza",
    "npm_",
    "pypi-",
    "r8_",
    "eyJ",
)
#: The shortest text :data:`_OPAQUE_CANDIDATE` can match: a run of 32.
_OPAQUE_MIN = 32


def _has_token_prefix(text: str) -> bool:
    """Whether ``_TOKEN_SHAPES`` can match in ``text`` at all (a substring test per prefix)."""
    return any(map(text.__contains__, _TOKEN_PREFIXES))


_BEARER_WORDS = ("bearer", "basic", "token")
_BEARER = lazy_compile(
    r"(?i)(?<![A-Za-z0-9])(" + "|".join(_BEARER_WORDS) + r")(\s+)([A-Za-z0-9._~+/=\-]{8,})"
)
# scheme://user-info@ : everything between :// and @ with no / or whitespace in it.
_URL_USERINFO = lazy_compile(
    r"(?i)(?<![a-z0-9+.\-])([a-z][a-z0-9+.\-]{0,30}://)([^/\s@<>\"']{1,512})@"
)
# A URL cut before its @ (the tail of a truncated text): scheme://user:secret<end>.
_URL_CUT = lazy_compile(
    r"(?i)([a-z][a-z0-9+.\-]{0,30}://)[^/\s@<>\"']{0,512}:[^/\s@<>\"']{0,512}…\Z"
)
_OPAQUE_CANDIDATE = lazy_compile(
    r"(?<![A-Za-z0-9+/_\-.])[A-Za-z0-9+/_\-]{32,}={0,2}(?![A-Za-z0-9+/_\-.])"
)
_HEX = lazy_compile(r"[0-9a-fA-F]+")
_HASH_CONTEXT = lazy_compile(
    r"(?i)(git|commit|sha\d*|hash|rev|revision|digest|checksum|build)[\s:=@+\-]*\Z"
)
_HASH_KEY = lazy_compile(r"(?i)git|commit|sha|hash|digest|revision|checksum")


def _opaque(text: str, match: re.Match[str], hash_key: bool) -> str:
    """Withhold a long run that looks random: a key, not a word, a path or a hash."""
    run = match.group(0)
    if _HEX.fullmatch(run):
        before = text[max(0, match.start() - 24) : match.start()]
        return run if hash_key or _HASH_CONTEXT.search(before) else REDACTED
    longest = max(re.split(r"[_\-]", run), key=len)
    if len(longest) < 20 or "/" in run:
        return run
    digits = sum(c.isdigit() for c in longest)
    letters = sum(c.isalpha() for c in longest)
    return REDACTED if digits >= 3 and letters >= 8 else run


# -- identity shapes --------------------------------------------------------------------

_GPU_UUID = lazy_compile(
    r"(?<![A-Za-z0-9])(GPU|MIG)-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![0-9a-fA-F])"
)
_SHORT_GPU_UUID = lazy_compile(r"(?<![A-Za-z0-9])(GPU|MIG)-([0-9a-fA-F]{8})(?![0-9a-fA-F\-])")
_BARE_UUID = lazy_compile(
    r"(?<![0-9a-fA-F\-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9a-fA-F\-])"
)
_MAC = lazy_compile(
    r"(?<![\w\-])[0-9A-Fa-f]{2}([:\-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w\-])"
)
_EMAIL = lazy_compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}(?![A-Za-z0-9\-])"
)
_CLOUD_HOST = lazy_compile(
    r"(?i)(?<![A-Za-z0-9\-])ip-\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3}(?:\.[A-Za-z0-9\-]{1,63}){0,6}(?![A-Za-z0-9\-])"
)
_SERIAL_TEXT = lazy_compile(r"(?i)(serial(?:[ _\-]?(?:number|no))?\s*[:=]\s*)([A-Za-z0-9\-]{4,64})")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# A dotted quad that is not part of a longer dotted number nor a pin ("==12.4.5.8").
_IPV4 = lazy_compile(
    rf"(?<![\w.~+\-])(?<![=<>!~]=)({_OCTET}(?:\.{_OCTET}){{3}})(?::\d{{1,5}})?(?![\w.+\-])"
)
_IPV6 = lazy_compile(
    r"(?<![\w:.])("
    r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:"
    r"|::(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}"
    r")(?![\w:])"
)
# Words before a dotted quad that make it a version, not an address.
_VERSION_CONTEXT = lazy_compile(
    r"(?i)(version|ver|v|release|build|cudnn|cublas|cufft|curand|cusolver|cusparse|nccl|cuda|"
    r"driver|torch|libcudnn|trt|tensorrt|nvrtc|nvjitlink|pypi|conda|pip)[\s:=]{0,4}\Z"
)
_NETWORK_KEY = lazy_compile(
    r"(?i)addr|ip|host|server|dns|gateway|nameserver|route|inet|peer|proxy|url"
)
_VERSION_KEY = lazy_compile(r"(?i)version|packages|cpu_info|lscpu|requirements|libraries")
_VERSION_VALUE = lazy_compile(r"\d{1,4}(?:\.\d{1,6}){1,5}")
_PRIVATE_NETS = lazy_compile(
    r"^(?:10\.|127\.|169\.254\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.)"
)
_WINDOWS_PROFILE = lazy_compile(
    r"(?i)(?<![A-Za-z])([A-Z]:[\\/]{1,2}Users[\\/]{1,2})([^\\/\s\"'<>:;|]{1,128})"
)
_WSL_PROFILE = lazy_compile(r"(?i)(/mnt/[a-z]/Users/)([^/\s\"'<>:;|]{1,128})")
_UNIX_HOME = lazy_compile(r"(?<![\w.])(/home/|/Users/)([^/\s\"'<>:;|]{1,128})")
_KEEP_IPS = frozenset({"0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1"})

_IDENTITY_KEYS = {"user", "username", "user_name", "owner", "login", "uid_name", "email", "mail"}
_HOST_KEYS = {"hostname", "host_name", "node", "nodename", "computername", "fqdn"}
_SERIAL_KEY = lazy_compile(r"(?i)serial")
_CMDLINE_KEYS = {"cmdline", "command_line", "args", "argv"}


class Identity(NamedTuple):
    """Who and where this machine is: the strings that must never reach a ticket."""

    users: tuple[str, ...] = ()
    homes: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


#: No local identity: what a replayed document is redacted with.
NO_IDENTITY = Identity()


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
    if sys.platform != "win32":
        try:
            import pwd

            entry = pwd.getpwuid(os.getuid())
            users.append(entry.pw_name)
            homes.append(entry.pw_dir)
        except (ImportError, KeyError, AttributeError, OSError):
            pass
    home = os.path.expanduser("~")  # "~" itself where it cannot say
    if home != "~":
        homes.append(os.path.normpath(home))
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


class _Word(NamedTuple):
    """One identity pattern, and the text every match of it contains (its needle)."""

    pattern: re.Pattern[str]
    replacement: str
    needle: str
    ignore_case: bool

    def may_match(self, value: str) -> bool:
        if not self.needle:
            return True
        if self.ignore_case:
            return _may_contain(value, (self.needle,))
        return self.needle in value


class Redactor:
    """Redacts one document; placeholders stay stable across everything it is given.

    ``identity`` defaults to this machine's. With ``identities=False`` (``--no-redact``)
    only secrets and control characters go.
    """

    def __init__(self, identity: Identity | None = None, identities: bool = True) -> None:
        self.identity = current_identity() if identity is None else identity
        self.identities = identities
        self._numbers: dict[str, dict[str, str]] = {}
        self._patterns: list[_Word] | None = None
        self._seen: dict[tuple[str, bool, bool], str] = {}
        #: key -> (string under that key -> its redacted form)
        self._keyed: dict[str, dict[str, str]] = {}
        #: a dict key -> its redacted form
        self._dict_keys: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Redactor(identity={self.identity!r}, identities={self.identities})"

    # -- placeholders ------------------------------------------------------------------
    def _placeholder(self, kind: str, value: str, template: str) -> str:
        table = self._numbers.setdefault(kind, {})
        key = value.lower()
        if key not in table:
            table[key] = template.format(n=len(table) + 1)
        return table[key]

    def _host(self, name: str) -> str:
        if any(name.lower() == h.lower() for h in self.identity.hosts):
            return "<host>"
        return self._placeholder("host", name, "<host-{n}>")

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
    def scrub_secrets(self, text: str, *, hash_key: bool = False) -> str:
        """Withhold private keys, token shapes, headers, URL credentials and named values."""
        # Each pattern runs only where the text has what every match of it must contain.
        if "-----BEGIN" in text:
            text = _PRIVATE_KEY.sub(REDACTED, text)
        if "://" in text:
            if "@" in text:
                text = _URL_USERINFO.sub(self._userinfo, text)
            if "…" in text:
                text = _URL_CUT.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        if _has_token_prefix(text):
            text = _TOKEN_SHAPES.sub(REDACTED, text)
        if _may_contain(text, _BEARER_WORDS):
            text = _BEARER.sub(self._bearer, text)
        host = self._host if self.identities else None
        text = _apply(text, _named_values(text, host))
        if len(text) < _OPAQUE_MIN:
            return text
        return _OPAQUE_CANDIDATE.sub(lambda m: _opaque(text, m, hash_key), text)

    @staticmethod
    def _userinfo(match: re.Match[str]) -> str:
        info = match.group(2)
        if info.startswith("<redacted") or info in ("git", "<user>"):
            return match.group(0)
        return f"{match.group(1)}{REDACTED}@"

    @staticmethod
    def _bearer(match: re.Match[str]) -> str:
        word, gap, token = match.groups()
        if word.lower() == "basic" and not (re.search(r"\d", token) or token.endswith("=")):
            return match.group(0)  # "Basic usage", not a credential
        if word.lower() == "token" and not re.search(r"\d", token):
            return match.group(0)
        return f"{word}{gap}{REDACTED}"

    def text(self, value: str, *, network: bool = True, hash_key: bool = False) -> str:
        """One string: control characters stripped, secrets withheld, identities replaced."""
        key = (value, network, hash_key)
        done = self._seen.get(key)
        if done is None:
            # Same input, same output: placeholders are numbered on first sight.
            done = _cut(self._text(value, network=network, hash_key=hash_key), STRING_MAX)
            if len(value) < 4096:
                self._seen[key] = done
        return done

    def _text(self, value: str, *, network: bool, hash_key: bool) -> str:
        value = strip_control(value)
        value = self.scrub_secrets(value, hash_key=hash_key)
        if not self.identities or not value:
            return value
        value = self._paths(value)
        value = self._names(value)
        # As in scrub_secrets: a pattern runs only where a match of it could be.
        if "@" in value:
            value = _EMAIL.sub(
                lambda m: self._placeholder("email", m.group(0), "<email-{n}>"), value
            )
        if _may_contain(value, ("ip-",)):
            value = _CLOUD_HOST.sub(
                lambda m: self._placeholder("host", m.group(0), "<host-{n}>"), value
            )
        if _may_contain(value, ("serial",)):
            value = _SERIAL_TEXT.sub(
                lambda m: m.group(1) + self._placeholder("serial", m.group(2), "<serial-{n}>"),
                value,
            )
        if "GPU-" in value or "MIG-" in value:
            value = _GPU_UUID.sub(
                # Keyed by the first 8 hex digits: the short form NVML facts keep maps the same.
                lambda m: (
                    f"{m.group(1)}-" + self._placeholder("uuid", m.group(2)[:8], "<uuid-{n}>")
                ),
                value,
            )
            value = _SHORT_GPU_UUID.sub(
                lambda m: f"{m.group(1)}-" + self._placeholder("uuid", m.group(2), "<uuid-{n}>"),
                value,
            )
        dashes, colons = value.count("-"), value.count(":")
        if dashes >= 4:
            value = _BARE_UUID.sub(
                lambda m: self._placeholder("uuid", m.group(0), "<uuid-{n}>"), value
            )
        if colons >= 5 or dashes >= 5:
            value = _MAC.sub(lambda m: self._placeholder("mac", m.group(0), "<mac-{n}>"), value)
        if network:
            if value.count(".") >= 3:
                value = _IPV4.sub(lambda m: self._ipv4(value, m), value)
            if colons >= 7 or "::" in value:  # every shape _IPV6 matches has one or the other
                value = _IPV6.sub(self._ip, value)
        return value

    def _ipv4(self, text: str, match: re.Match[str]) -> str:
        address = match.group(1)
        before = text[max(0, match.start() - 24) : match.start()]
        if _VERSION_CONTEXT.search(before) and not _PRIVATE_NETS.match(address):
            return match.group(0)
        if address in _KEEP_IPS:
            return match.group(0)
        port = match.group(0)[len(address) :]
        return self._placeholder("ip", address, "<ip-{n}>") + port

    def _ip(self, match: re.Match[str]) -> str:
        address = match.group(1)
        if address in _KEEP_IPS:
            return match.group(0)
        return self._placeholder("ip", address, "<ip-{n}>")

    def _words(self) -> list[_Word]:
        """Compiled identity patterns (homes, hosts, users), longest first, built once."""
        if self._patterns is None:
            patterns: list[_Word] = []
            for home in sorted(self.identity.homes, key=len, reverse=True):
                if len(home) > 1:
                    pattern = re.compile(re.escape(home) + r"(?![\w.\-])")
                    patterns.append(_Word(pattern, "<home>", home, False))
            for host in sorted(self.identity.hosts, key=len, reverse=True):
                if len(host) >= _MIN_WORD_LENGTH and host.lower() != "localhost":
                    pattern = re.compile(rf"(?i)(?<![\w\-]){re.escape(host)}(?![\w\-])")
                    # A host name outside ASCII may match text under case folding: no needle.
                    needle = host.lower() if host.isascii() else ""
                    patterns.append(_Word(pattern, "<host>", needle, True))
            for user in sorted(self.identity.users, key=len, reverse=True):
                if user.lower() in _GENERIC_NAMES:
                    continue  # its home is replaced above; the word stays
                if len(user) < _MIN_WORD_LENGTH:
                    # Only where it is plainly a path component.
                    pattern = re.compile(rf"(?<=[/\\]){re.escape(user)}(?=[/\\]|$)")
                    patterns.append(_Word(pattern, "<user>", user, False))
                    continue
                # Case-sensitive: user "nvidia" must not turn "NVIDIA driver" into "<user>".
                pattern = re.compile(rf"(?<![\w\-]){re.escape(user)}(?![\w\-])")
                patterns.append(_Word(pattern, "<user>", user, False))
            self._patterns = patterns
        return self._patterns

    def _paths(self, value: str) -> str:
        for word in self._words():
            if word.replacement == "<home>" and word.may_match(value):
                value = word.pattern.sub(word.replacement, value)
        if _may_contain(value, ("users",)):
            value = _WINDOWS_PROFILE.sub(lambda m: m.group(1) + self._other_user(m.group(2)), value)
        if _may_contain(value, ("/mnt/",)):
            value = _WSL_PROFILE.sub(lambda m: m.group(1) + self._other_user(m.group(2)), value)
        if "/home/" in value or "/Users/" in value:
            value = _UNIX_HOME.sub(lambda m: m.group(1) + self._other_user(m.group(2)), value)
        return value

    def _names(self, value: str) -> str:
        for word in self._words():
            if word.replacement != "<home>" and word.may_match(value):
                value = word.pattern.sub(word.replacement, value)
        return value

    # -- documents -------------------------------------------------------------------------
    def value(self, data: Any, key: str = "") -> Any:
        """Redact a JSON-like value found under ``key`` (dicts and lists are walked).

        Floats that JSON cannot hold (NaN, infinities) become None, so output stays strict.
        """
        kind = type(data)
        if kind is str:  # most values: no isinstance chain
            return self._keyed_string(data, key)
        if kind is int or kind is bool or data is None:
            return data
        if isinstance(data, Mapping):
            out = {}
            names = self._dict_keys
            for k, v in data.items():
                name = k if type(k) is str else str(k)
                clean = names.get(name)
                if clean is None:
                    clean = names[name] = self.text(name)
                kind = type(v)
                if kind is str:
                    out[clean] = self._keyed_string(v, name)
                elif kind is int or kind is bool or v is None:
                    out[clean] = v
                else:
                    out[clean] = self.value(v, name)
            return out
        if isinstance(data, (list, tuple)):
            return [self.value(v, key) for v in data]
        if isinstance(data, float) and not math.isfinite(data):
            return None
        if not isinstance(data, str):
            return data
        return self._keyed_string(data, key)

    def finding(self, finding: Finding) -> Finding:
        """``finding`` redacted field by field, as :meth:`value` redacts its JSON form.

        The same strings under the same keys in the same order (so placeholders number
        alike), without building the JSON and parsing it back for each finding.
        """
        from gpudoctor.model import Evidence
        from gpudoctor.model import Finding
        from gpudoctor.model import Remedy

        text = self._field
        return Finding(
            text(finding.check_id, "id"),
            text(finding.name, "name"),
            finding.severity,
            text(finding.title, "title"),
            text(finding.subject, "subject"),
            tuple(
                Evidence(text(e.label, "label"), text(e.value, "value"), text(e.source, "source"))
                for e in finding.evidence
            ),
            tuple(
                Remedy(
                    text(r.text, "text"),
                    tuple(text(c, "commands") for c in r.commands),
                    tuple(text(p, "platforms") for p in r.platforms),
                )
                for r in finding.remedies
            ),
            None if finding.fix is None else self.value(finding.fix, "fix"),
            text(finding.reference, "reference"),
            text(finding.details, "details"),
        )

    def _field(self, data: Any, key: str) -> str:
        """A string field of a record, redacted under ``key`` (``str()`` of anything else)."""
        if type(data) is str:
            return self._keyed_string(data, key)
        return str(self.value(data, key))

    def _keyed_string(self, data: str, key: str) -> str:
        """:meth:`_redact_keyed`, once per distinct string and key (as :meth:`text` does)."""
        memo = self._keyed.get(key)
        if memo is None:
            memo = self._keyed[key] = {}
        done = memo.get(data)
        if done is None:
            done = self._redact_keyed(data, key)
            if len(data) < 4096:
                memo[data] = done
        return done

    def _redact_keyed(self, data: str, key: str) -> str:
        rules = _key_rules(key)
        if rules.secret and data and not data.startswith("<redacted"):
            return REDACTED
        if rules.env_like and _looks_random(data):
            return REDACTED
        if rules.cmdline:
            return shorten(self.text(data).replace("\n", "\\n"), CMDLINE_MAX)
        if rules.evidence and len(data) > EVIDENCE_MAX:
            return shorten(self._keyed_string(data, "evidence"), EVIDENCE_MAX)
        if not self.identities:
            return self.text(data, hash_key=rules.hash_key)
        if rules.identity and data and not data.startswith("<"):
            if "@" in data:
                return self._placeholder("email", data, "<email-{n}>")
            return self._other_user(strip_control(data))
        if rules.host and data and not data.startswith("<"):
            return self._host(strip_control(data))
        if rules.serial and data and not data.startswith("<"):
            return self._placeholder("serial", data, "<serial-{n}>")
        versionish = rules.version or (
            rules.may_hold_version
            and _VERSION_VALUE.fullmatch(data.strip()) is not None
            and not _PRIVATE_NETS.match(data.strip())
        )
        return self.text(data, network=not versionish, hash_key=rules.hash_key)


class _KeyRules(NamedTuple):
    """What a key says about the strings under it; decided once per distinct key."""

    secret: bool
    #: An environment-variable-like name (not a ``*PATH``): a random-looking value is a secret.
    env_like: bool
    cmdline: bool
    #: An evidence value: cut to :data:`EVIDENCE_MAX`.
    evidence: bool
    identity: bool
    host: bool
    serial: bool
    version: bool
    #: Not a network key: a dotted-number value is a version, not an address.
    may_hold_version: bool
    hash_key: bool


@functools.lru_cache(maxsize=4096)
def _key_rules(key: str) -> _KeyRules:
    lowered = key.lower()
    return _KeyRules(
        secret=bool(key) and secret_name(key),
        env_like=re.fullmatch(r"[A-Z][A-Z0-9_]*", key) is not None and not lowered.endswith("path"),
        cmdline=lowered in _CMDLINE_KEYS,
        evidence=lowered == "value",
        identity=lowered in _IDENTITY_KEYS,
        host=lowered in _HOST_KEYS,
        serial=_SERIAL_KEY.search(key) is not None,
        version=_VERSION_KEY.search(key) is not None,
        may_hold_version=bool(key) and not _NETWORK_KEY.search(key),
        hash_key=_HASH_KEY.search(key) is not None,
    )


def _looks_random(value: str) -> bool:
    """A value with no structure of its own: one long run of letters and digits."""
    stripped = value.strip()
    if len(stripped) < 32 or _HEX.fullmatch(stripped) or re.search(r"[\s/\\:,;]", stripped):
        return False
    digits = sum(c.isdigit() for c in stripped)
    letters = sum(c.isalpha() for c in stripped)
    return digits >= 3 and letters >= 8 and max(map(len, re.split(r"[_\-.]", stripped))) >= 20


def looks_secret(value: str) -> bool:
    """True when redaction would withhold part of ``value`` as a secret."""
    return REDACTED in Redactor(NO_IDENTITY, identities=False).text(value)


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


def identity_for(report: Any) -> Identity:
    """The identity to redact ``report`` with: the local one, or none for a replay.

    A replayed file was redacted where it was recorded; redacting it again with the
    replaying user's names would turn ``NVIDIA driver`` into ``<user> driver`` for
    ``USER=nvidia``. Secrets and generic identities (addresses, UUIDs) are still scrubbed.
    """
    return NO_IDENTITY if getattr(report, "replayed_from", "") else current_identity()


def redact_report(report: Any, *, identity: Identity | None = None, enabled: bool = True) -> Any:
    """A copy of a :class:`~gpudoctor.runner.Report` safe to print: facts, findings, command.

    One :class:`Redactor` covers the whole report, so ``<ip-1>`` in a finding is the same
    address as ``<ip-1>`` in the facts.
    """
    from gpudoctor.facts.model import Facts
    from gpudoctor.facts.model import ProbeRecord
    from gpudoctor.runner import Report

    redactor = Redactor(identity or identity_for(report), identities=enabled)
    facts = report.facts
    probes = redactor.value(facts.probes_json())
    records = {name: ProbeRecord.from_json(name, rec) for name, rec in probes.items()}
    # Equal findings redact equally (placeholders are numbered on first sight): the
    # thousands a text report only counts are one finding each check.
    redacted: dict[Finding, Finding] = {}
    findings = []
    for finding in report.findings:
        clean = redacted.get(finding)
        if clean is None:
            clean = redacted[finding] = redactor.finding(finding)
        findings.append(clean)
    return Report(
        facts=Facts(redactor.value(facts.to_json()), records, schema_version=facts.schema_version),
        findings=findings,
        command=redactor.text(report.command),
        replayed_from=redactor.text(report.replayed_from),
    )
