"""The JSON API under /api/v4, shaped like GitLab's so GitLab-style clients work unchanged."""
