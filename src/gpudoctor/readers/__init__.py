"""Pure readers of the user's own files: bytes in, data out, never raise, never execute.

``.wslconfig`` and ``/etc/wsl.conf`` (:mod:`wslconfig`), training scripts
(:mod:`training_script`) and training configs (:mod:`training_config`).
"""

from __future__ import annotations
