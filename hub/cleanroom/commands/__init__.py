"""Subcommand groups of the ``cleanroom`` command (see cleanroom.cli)."""
