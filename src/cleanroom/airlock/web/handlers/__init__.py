"""HTTP handlers: ``api`` (the REST API) and ``pages`` (server-rendered pages)."""
