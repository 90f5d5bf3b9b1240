"""Reading the user's training setup (scripts, configs, live DataLoaders) without running it."""

from __future__ import annotations
