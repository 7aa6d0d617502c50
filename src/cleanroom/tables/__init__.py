"""Verified tables: statistical outputs that the airlock recomputes from the vault's data
and checks by counting organisations, not rows.

- :mod:`.spec`: the specification of a table and the one way to compute, shape and write it
  (shared, as an exact copy, with the researcher's ``cleanroom.sdc`` in the notebook image).
- :mod:`.recompute`: the sandbox job that recomputes a submitted table from the project's
  grant copy and compares it, and measures each cell's contributing organisations.
- :mod:`.rules`: the disclosure rules on those measurements (threshold, dominance, p%, zeros),
  with their parameters taken from the release policy's data.
"""
