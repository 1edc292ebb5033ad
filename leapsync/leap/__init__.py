"""Leap's API as Python, with no Django app imported: the vendor layer (see DESIGN.md)."""
