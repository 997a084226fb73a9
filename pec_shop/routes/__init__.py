"""HTTP routes: ``pages`` (HTML for customers) and ``api`` (JSON, health, metrics)."""
