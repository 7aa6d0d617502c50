"""The data plane: a grant's data materialised from its dataset (with the row filter checked
first), and the read-only view catalog a server opens."""
