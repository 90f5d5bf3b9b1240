"""A pattern compiled on first use behaves as the compiled pattern does."""

from __future__ import annotations

import copy
import pickle
import re

import pytest

from gpudoctor import privacy
from gpudoctor.lazy_regex import LazyPattern
from gpudoctor.lazy_regex import lazy_compile


def test_every_method_answers_as_the_compiled_pattern():
    source, flags = r"(?i)(gpu)-(\d+)", 0
    lazy, compiled = lazy_compile(source, flags), re.compile(source, flags)
    text = "GPU-0 and gpu-12, not cpu-3"
    assert lazy.search(text).group(0) == compiled.search(text).group(0)
    assert lazy.match(text).span() == compiled.match(text).span()
    assert lazy.fullmatch("gpu-7").groups() == ("gpu", "7")
    assert lazy.findall(text) == compiled.findall(text)
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in compiled.finditer(text)]
    assert lazy.sub(r"\2", text) == compiled.sub(r"\2", text)
    assert lazy.subn("x", text) == compiled.subn("x", text)
    assert lazy.split(text) == compiled.split(text)
    assert (lazy.groups, lazy.pattern, lazy.flags) == (2, source, 0)


def test_nothing_is_compiled_before_the_first_use():
    lazy = LazyPattern("(unbalanced")  # would raise re.error if compiled
    assert lazy.pattern == "(unbalanced"
    with pytest.raises(re.error):
        lazy.search("x")


def test_copy_and_pickle_do_not_count_as_use():
    lazy = LazyPattern("(unbalanced")
    assert copy.copy(lazy).pattern == "(unbalanced"
    assert pickle.loads(pickle.dumps(lazy)).pattern == "(unbalanced"
    with pytest.raises(AttributeError):
        lazy.no_such_method  # noqa: B018


def test_redaction_module_patterns_are_deferred():
    deferred = [v for v in vars(privacy).values() if isinstance(v, LazyPattern)]
    assert len(deferred) > 30
