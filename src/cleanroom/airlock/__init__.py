"""The airlock: release requests, their files (stored by content hash), checks, policy
decisions, votes and release downloads. A JupyterHub-managed service (``python -m
cleanroom.airlock``); see docs/explanation/airlock.md.

Modules, each with one job: ``states`` (the life cycle as a table), ``permissions`` (who may do
what, in pairs), ``store`` (the content-addressed blob store), ``models``/``db`` (the request
database), ``facts`` (what the hub and the catalog say about a caller), ``checks`` (automatic
checks run here, outside every container), ``service`` (the one business layer every write goes
through), ``app`` and ``handlers`` (HTTP).
"""
