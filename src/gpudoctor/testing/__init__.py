"""Test doubles for hardware that a test machine lacks (NVML without a GPU)."""
