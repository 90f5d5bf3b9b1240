"""Redaction's cheap tests before each pattern never skip a string the pattern would match.

``privacy`` runs a pattern only where the text contains what every match must contain
(``://``, ``@``, a word in any case ...). If a pattern is widened and its test is not, a
secret or an identity would pass unredacted: this test says so.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gpudoctor import privacy as p

REPO = Path(__file__).resolve().parent.parent

#: pattern -> the test that must be True wherever the pattern matches.
PREFILTERS: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    ("private key", p._PRIVATE_KEY, lambda s: "-----BEGIN" in s),
    ("url user-info", p._URL_USERINFO, lambda s: "://" in s and "@" in s),
    ("cut url", p._URL_CUT, lambda s: "://" in s and "…" in s),
    ("bearer", p._BEARER, lambda s: p._may_contain(s, p._BEARER_WORDS)),
    ("named", p._ANY_NAMED, p._any_named),
    ("email", p._EMAIL, lambda s: "@" in s),
    ("cloud host", p._CLOUD_HOST, lambda s: p._may_contain(s, ("ip-",))),
    ("serial", p._SERIAL_TEXT, lambda s: p._may_contain(s, ("serial",))),
    ("gpu uuid", p._GPU_UUID, lambda s: "GPU-" in s or "MIG-" in s),
    ("short gpu uuid", p._SHORT_GPU_UUID, lambda s: "GPU-" in s or "MIG-" in s),
    ("bare uuid", p._BARE_UUID, lambda s: s.count("-") >= 4),
    ("mac", p._MAC, lambda s: s.count(":") >= 5 or s.count("-") >= 5),
    ("ipv4", p._IPV4, lambda s: s.count(".") >= 3),
    ("ipv6", p._IPV6, lambda s: s.count(":") >= 7 or "::" in s),
    ("token shapes", p._TOKEN_SHAPES, p._has_token_prefix),
    ("opaque run", p._OPAQUE_CANDIDATE, lambda s: len(s) >= p._OPAQUE_MIN),
    ("windows profile", p._WINDOWS_PROFILE, lambda s: p._may_contain(s, ("users",))),
    ("wsl profile", p._WSL_PROFILE, lambda s: p._may_contain(s, ("/mnt/",))),
    ("unix home", p._UNIX_HOME, lambda s: "/home/" in s or "/Users/" in s),
    ("ansi", p._ANSI, lambda s: p._CONTROL_OR_SURROGATE.search(s) is not None),
    ("control", p._CONTROL, lambda s: p._CONTROL_OR_SURROGATE.search(s) is not None),
    ("surrogate", p._SURROGATE, lambda s: p._CONTROL_OR_SURROGATE.search(s) is not None),
]

#: Pieces that make patterns match, in odd cases and with Unicode case-folding twins
#: (the Kelvin sign folds to k, the long s to s, dotless i to i).
PIECES = [
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    "HTTPS://alice:hunter2@example.com/x",
    "https://bob:s3cret…",
    "BeArEr abcdefgh1234",
    "ba\u017fic dXNlcjpwYXNz=",
    "TOKEN 12345678abc",
    "\u212aEY=value",
    "pa\u017f\u017f=x",
    "alice@example.org",
    "IP-10-0-0-1.ec2.internal",
    "S\u0130rial: ABC123",
    "SERIAL NO = 1324ABCD",
    "GPU-3f2a6c1e-9b1d-4c55-8a0e-0d6f2b7e9a11",
    "MIG-3f2a6c1e",
    "3f2a6c1e-9b1d-4c55-8a0e-0d6f2b7e9a11",
    "aa:bb:cc:dd:ee:ff",
    "AA-BB-CC-DD-EE-FF",
    "10.1.2.3:8080",
    "fe80::1ff:fe23:4567:890a",
    "::1",
    "ghp_abcdefghijklmnop1234",
    "github_pat_11ABCDEFG0abcdefghijkl",
    "AKIAABCDEFGHIJKLMNOP",
    "xoxb-12345678-abcd",
    "eyJhbGciOi.eyJzdWIi.sig",
    "hf_abcdefghijklmnop",
    "sk-proj-abcdefghijklmnopqrst",
    "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==",
    "C:\\USERS\\carol\\x",
    "c:/u\u017fers/dave",
    "/MNT/C/Users/eve/",
    "/home/zed/a",
    "/Users/amy/b",
    "\x1b[31mred\x1b[0m",
    "\u202eevil",
    "\ud800",
    "\x07",
]


def corpus_strings() -> list[str]:
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                found.add(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.add(value)

    for path in sorted((REPO / "fixtures").rglob("*.json")):
        walk(json.loads(path.read_text()))
    rng = random.Random(20)
    separators = ["", " ", "=", ":", "/", "-", " --", "\n"]
    mixed = [
        rng.choice(separators).join(rng.choice(PIECES) for _ in range(rng.randint(1, 4)))
        for _ in range(3000)
    ]
    return sorted(found) + PIECES + mixed


STRINGS = corpus_strings()


@pytest.mark.parametrize(
    ("name", "pattern", "prefilter"), PREFILTERS, ids=[f[0] for f in PREFILTERS]
)
def test_prefilter_holds_wherever_the_pattern_matches(
    name: str, pattern: re.Pattern[str], prefilter: Callable[[str], bool]
) -> None:
    missed = [s for s in STRINGS if pattern.search(s) and not prefilter(s)]
    assert not missed, f"{name}: skipped {missed[:3]!r}"
    assert any(pattern.search(s) for s in STRINGS), f"{name}: no string exercises it"


def test_named_words_answer_exactly_as_the_pattern() -> None:
    assert [p._any_named(s) for s in STRINGS] == [bool(p._ANY_NAMED.search(s)) for s in STRINGS]


def test_identity_needles_hold_for_the_identity_patterns() -> None:
    identity = p.Identity(
        users=("alice", "al"), homes=("/home/alice",), hosts=("Gpu-Box", "\u212aelvin")
    )
    redactor = p.Redactor(identity)
    texts = [*STRINGS, "user ALICE on gpu-box", "/x/al/y", "kelvin", "\u212aELVIN", "GPU-BOX"]
    for word in redactor._words():
        missed = [s for s in texts if word.pattern.search(s) and not word.may_match(s)]
        assert not missed, (word.pattern.pattern, missed[:3])


def test_printable_text_holds_nothing_strip_control_removes() -> None:
    """``strip_control`` skips a printable text: no printable character is one it strips."""
    pattern = p._CONTROL_OR_SURROGATE.compiled()
    caught = [c for c in map(chr, range(0x110000)) if c.isprintable() and pattern.search(c)]
    assert caught == []
    assert p.strip_control("a\x1b[31mred\x1b[0m\tb\n\u202e") == "ared\tb\n"
