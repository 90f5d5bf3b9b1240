"""Pure readers of the user's own files: bytes in, data out, never raise, never execute.

``.wslconfig`` and ``/etc/wsl.conf`` (:mod:`wslconfig`), training scripts
(:mod:`training_script`), training configs (:mod:`training_config`) and training
logs and crash output (:mod:`logs`).
"""

from __future__ import annotations
