"""The API for the partner's own systems: /api/v1/, token authentication, the change feed."""
