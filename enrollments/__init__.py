"""Enrollments app."""
