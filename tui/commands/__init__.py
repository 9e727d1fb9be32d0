"""Headless commands, one module per tool; each exposes a click command named ``command``."""
