"""The .wslconfig reader says what WSL does with each line, and never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from gpudoctor.readers.wslconfig import GiB
from gpudoctor.readers.wslconfig import MiB
from gpudoctor.readers.wslconfig import effective_limits
from gpudoctor.readers.wslconfig import format_size
from gpudoctor.readers.wslconfig import parse_size
from gpudoctor.readers.wslconfig import parse_wsl_conf
from gpudoctor.readers.wslconfig import parse_wslconfig

BODY = "# limits for training\n[wsl2]\nmemory=12GB\nswap=8GB\nprocessors=6\n"


def codes(parsed, line=None):
    return [d.code for d in parsed.diagnostics if line is None or d.line == line]


@given(st.binary(max_size=2048))
@settings(max_examples=200, deadline=None)
def test_any_bytes_parse_without_raising(data):
    parsed = parse_wslconfig(data)
    assert parsed.encoding
    assert isinstance(parsed.to_json()["diagnostics"], list)
    assert all(d.line >= 0 for d in parsed.diagnostics)


@given(st.text(alphabet='[]=#"\\ \t\r\nwsl2memoryGBMK0189.;-_xé', max_size=300))
@settings(max_examples=200, deadline=None)
def test_config_like_text_parses_without_raising(text):
    for encoding in ("utf-8", "utf-8-sig", "utf-16"):
        parsed = parse_wslconfig(text.encode(encoding))
        assert parsed.readable
        for setting in parsed.settings.values():
            assert setting.line >= 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("16GB", 16 * GiB),
        ("512MB", 512 * MiB),
        ("2G", 2 * GiB),
        ("1T", 1024 * GiB),
        ("1024", 1024),
        ("0", 0),
        ("0GB", 0),
        ("16 GB", None),
        ("12.5GB", None),
        ("16gb", None),
        ("16GiB", None),
        ("00", None),
        ("GB", None),
        ("0foo", None),
    ],
)
def test_size_syntax_follows_wsl(raw, expected):
    assert parse_size(raw)[0] == expected


def test_invalid_size_suggests_the_right_spelling():
    assert "12800MB" in parse_size("12.5GB")[1]
    assert "16GB" in parse_size("16 GB")[1]
    assert format_size(12 * GiB) == "12GB"
    assert format_size(1536 * MiB) == "1536MB"


@pytest.mark.parametrize(
    ("prefix", "encoding", "readable"),
    [
        (b"", "utf-8", True),
        (b"\xef\xbb\xbf", "utf-8-bom", True),
    ],
)
def test_utf8_with_and_without_bom_apply(prefix, encoding, readable):
    parsed = parse_wslconfig(prefix + BODY.encode())
    assert (parsed.encoding, parsed.readable) == (encoding, readable)
    assert (parsed.memory_bytes, parsed.swap_bytes, parsed.processors) == (12 * GiB, 8 * GiB, 6)


def test_utf16_le_with_bom_is_read_but_flagged():
    parsed = parse_wslconfig(BODY.encode("utf-16"))  # Python writes a little-endian BOM
    assert parsed.encoding == "utf-16-le-bom"
    assert parsed.memory_bytes == 12 * GiB
    assert "utf16-le" in codes(parsed, 0)


def test_utf16_be_is_ignored_entirely():
    parsed = parse_wslconfig(b"\xfe\xff" + BODY.encode("utf-16-be"))
    assert not parsed.readable
    assert parsed.memory_bytes is None
    assert codes(parsed) == ["utf16-be"]


def test_utf16_without_bom_applies_nothing():
    parsed = parse_wslconfig(BODY.encode("utf-16-le"))
    assert parsed.encoding == "utf-16-no-bom"
    assert parsed.settings == {}
    assert "utf16-no-bom" in codes(parsed, 0)


def test_crlf_section_case_comments_and_trailing_comment():
    text = "[WSL2]\r\n  memory = 10GB   # for training\r\nswap=0\r\n"
    parsed = parse_wslconfig(text.encode())
    assert parsed.memory_bytes == 10 * GiB
    assert parsed.swap_bytes == 0
    assert parsed.newline == "\r\n"


def test_keys_before_section_and_typos_are_ignored_with_line_numbers():
    text = "memory=8GB\n[wls2]\nswap=4GB\n[wsl2]\nmemmory=6GB\n;comment\nsparse_vhd=true\n"
    parsed = parse_wslconfig(text.encode())
    assert parsed.memory_bytes is None
    assert parsed.swap_bytes is None
    assert codes(parsed, 1) == ["unknown-key"]
    assert "under [wsl2]" in parsed.diagnostics[0].message
    assert codes(parsed, 2) == ["unknown-section"]
    assert "did you mean [wsl2]" in [d for d in parsed.diagnostics if d.line == 2][0].message
    assert "did you mean memory" in [d for d in parsed.diagnostics if d.line == 5][0].message
    assert codes(parsed, 6) == ["semicolon-comment"]
    assert codes(parsed, 7) == ["expected-equals"]


def test_duplicate_keeps_first_even_when_invalid():
    parsed = parse_wslconfig(b"[wsl2]\nmemory=12.5GB\nmemory=12GB\n")
    assert parsed.memory_bytes is None
    assert codes(parsed, 2) == ["invalid-value"]
    assert codes(parsed, 3) == ["duplicate-key"]


def test_bad_escape_drops_line_and_double_backslash_works():
    parsed = parse_wslconfig(b"[wsl2]\nswapFile=C:\\Users\\x\\swap.vhdx\nkernel=C:\\\\k\\\\bz\n")
    assert codes(parsed, 2) == ["bad-value-syntax"]
    assert parsed.value("wsl2.kernel") == "C:\\k\\bz"


def test_wrong_section_and_wsl_conf_sections():
    text = "[wsl2]\nautoMemoryReclaim=gradual\n[boot]\nsystemd=true\n"
    parsed = parse_wslconfig(text.encode())
    assert "[experimental]" in [d for d in parsed.diagnostics if d.line == 2][0].message
    assert "/etc/wsl.conf" in [d for d in parsed.diagnostics if d.line == 3][0].message


def test_effective_limits_follow_wsl_defaults_and_clamps():
    none = effective_limits(None, 16 * GiB, 8)
    assert none["memory_bytes"] == 8 * GiB
    assert none["swap_bytes"] == 2 * GiB
    tiny = effective_limits(parse_wslconfig(b"[wsl2]\nmemory=8\n"), 16 * GiB, 8)
    assert tiny["memory_bytes"] == 256 * MiB
    huge = effective_limits(parse_wslconfig(b"[wsl2]\nmemory=64GB\nprocessors=99\n"), 16 * GiB, 8)
    assert huge["memory_bytes"] == 16 * GiB
    assert huge["processors"] == 8
    assert effective_limits(None, None, None)["memory_bytes"] is None


def test_wsl_conf_stops_at_first_malformed_line():
    result = parse_wsl_conf(b"[boot]\nsystemd=true\nbad line\n[gpu]\nenabled=false\n")
    assert result["values"] == {"boot.systemd": "true"}
    assert result["diagnostics"][0]["line"] == 3
