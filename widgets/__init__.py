"""Reusable Textual widgets that know nothing about mail."""
