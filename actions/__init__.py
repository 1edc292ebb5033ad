"""Actions app."""
