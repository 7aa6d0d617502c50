"""Builders of test objects in a given state, so that unit tests set up what they need in one
call (``factories.airlock``: release requests at any state, without OPA)."""
