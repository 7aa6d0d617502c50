"""The edge service: the filter every request to a researcher's server passes, its allow-list of
routes and the display channel's ledger."""
