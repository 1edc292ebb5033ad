"""Shared web helpers: HTMX, tables, filters, template tags, emails, CSP. Imports no model."""
