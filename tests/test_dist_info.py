"""The metadata header reader against the standard library it stands in for.

The torch probe reads METADATA headers itself instead of through ``importlib.metadata``
(which imports ``email``); these tests hold it to what ``email.parser.HeaderParser`` and
``importlib.metadata`` give on the same text and folders.
"""

from __future__ import annotations

import importlib.metadata
import json
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from gpudoctor.probes.dist_info import first
from gpudoctor.probes.dist_info import parse_headers
from gpudoctor.probes.torch_install import family_packages

# Texts shaped like the METADATA files wheels ship: a folded License field, repeated
# Requires-Dist with markers, CRLF endings, an empty value, a body after the blank line,
# a stray line where headers should go, and text without a final newline.
SAMPLES = {
    "plain": "Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0+cpu\n\nA description.\n",
    "folded": (
        "Metadata-Version: 2.1\nName: torchvision\nLicense: BSD\n        Copyright (c) Soumith\n"
        "\tall rights\nVersion: 0.28.0\n\n"
    ),
    "repeated": (
        "Name: torchaudio\nVersion: 2.13.0\nRequires-Dist: torch (==2.13.0)\n"
        'Requires-Dist: numpy ; extra == "all"\nrequires-dist: triton==3.5.0\n\nbody\n'
    ),
    "crlf": "Name: xformers\r\nVersion: 0.0.33\r\nSummary:\r\n\r\nName: not-a-header\r\n",
    "stray line": "Name: mmcv\nthis is not a field\nVersion: 2.2.0\n",
    "no final newline": "Name: apex\nVersion: 0.1",
    "spaces after colon": "Name:\t  triton\nVersion:3.5.0  \n",
    "starts folded": "  Name: nothing\nVersion: 1\n",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_headers_match_the_email_parser(name):
    text = SAMPLES[name]
    expected = HeaderParser().parsestr(text)
    fields = parse_headers(text)
    for field in ("Name", "Version", "Requires-Dist", "License", "Summary", "Metadata-Version"):
        assert fields.get(field.lower(), []) == (expected.get_all(field) or []), field
        assert first(fields, field) == expected.get(field)


def _dist_info(site: Path, folder: str, metadata: str, direct_url: dict | None = None) -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata)
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_family_packages_agree_with_importlib_metadata(tmp_path):
    site = tmp_path / "site"
    _dist_info(
        site,
        "torchvision-0.28.0.dist-info",
        "Name: torchvision\nVersion: 0.28.0\n"
        "Requires-Dist: numpy\nRequires-Dist: torch (==2.13.0)\n",
        {"url": "file:///wheels/torchvision.whl"},
    )
    _dist_info(site, "triton-3.5.0.dist-info", "Name: triton\nVersion: 3.5.0\n")
    _dist_info(site, "numpy-2.3.0.dist-info", "Name: numpy\nVersion: 2.3.0\n")
    egg = site / "detectron2.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Name: detectron2\nVersion: 0.6\n")
    (egg / "requires.txt").write_text("torch>=2.0\nfvcore\n")

    found = family_packages([str(site)])

    assert sorted(found) == ["detectron2", "torchvision", "triton"]
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = dist.metadata["Name"]
        if name not in found:
            continue
        assert found[name]["version"] == dist.version
        pins = [r for r in dist.requires or [] if r.startswith(("torch", "triton"))]
        assert found[name]["requires"] == sorted(pins)
    assert found["torchvision"]["requires"] == ["torch (==2.13.0)"]
    assert found["detectron2"]["requires"] == ["torch>=2.0"]
    assert found["torchvision"]["direct_url"] == "file:///wheels/torchvision.whl"
    assert found["triton"]["direct_url"] is None


def test_the_first_path_entry_wins(tmp_path):
    user, env = tmp_path / "user", tmp_path / "env"
    _dist_info(user, "triton-3.6.0.dist-info", "Name: triton\nVersion: 3.6.0\n")
    _dist_info(env, "triton-3.5.0.dist-info", "Name: triton\nVersion: 3.5.0\n")

    assert family_packages([str(user), str(env)])["triton"]["version"] == "3.6.0"
    assert family_packages([str(env), str(user)])["triton"]["version"] == "3.5.0"


def test_a_zipped_path_entry_is_read_through_importlib_metadata(tmp_path):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("triton-3.5.0.dist-info/METADATA", "Name: triton\nVersion: 3.5.0\n")
        bundle.writestr("numpy-2.3.0.dist-info/METADATA", "Name: numpy\nVersion: 2.3.0\n")

    found = family_packages([str(archive), str(tmp_path / "missing")])

    assert sorted(found) == ["triton"]
    assert found["triton"]["version"] == "3.5.0"
