"""Demo accounts and data for `make up`; nothing in production imports this."""
