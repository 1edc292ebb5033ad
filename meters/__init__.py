"""Meters app."""
