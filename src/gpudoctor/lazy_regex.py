"""Regular expressions compiled when first used, not when their module is imported.

Compiling costs 0.1-0.5 ms per pattern. The redaction module alone holds about forty, most
of which a given report never needs (its prefilters skip a pattern where the text cannot
match), and ``gpudoctor check`` pays for every module-level compile on every run.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from typing import Any

#: The methods a pattern is used through; after the first use they are the compiled
#: pattern's own bound methods, found on the instance with no extra call.
_METHODS = ("search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split")


class LazyPattern:
    """Stands in for ``re.compile(pattern, flags)`` until a method is first looked up."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if it was not yet)."""
        return re.compile(self.pattern, self.flags)  # re caches it: one compile per process

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the instance does not have yet: the first use.
        if name not in _METHODS and name not in ("groups", "groupindex"):
            raise AttributeError(name)  # copy and pickle probe for dunders: not a use
        compiled = self.compiled()
        for method in _METHODS:
            setattr(self, method, getattr(compiled, method))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self.flags!r})"


if TYPE_CHECKING:

    def lazy_compile(pattern: str, flags: int = 0) -> re.Pattern[str]: ...

else:

    def lazy_compile(pattern: str, flags: int = 0) -> LazyPattern:
        """``re.compile`` deferred to the first use; typed as the pattern it becomes."""
        return LazyPattern(pattern, flags)
