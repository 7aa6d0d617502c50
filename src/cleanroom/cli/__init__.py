"""The `cleanroom` command and its subcommand groups."""
