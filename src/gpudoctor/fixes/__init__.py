"""Fixes: a pure plan, then an apply step that is the only code that changes the machine."""
