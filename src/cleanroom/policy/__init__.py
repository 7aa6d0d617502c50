"""Policy decisions: a thin, typed layer over OPA.

- :mod:`~cleanroom.policy.facts`: what Python knows (users, projects, grants, requests), typed.
- :mod:`~cleanroom.policy.inputs`: the builders of the input document, and its digest.
- :mod:`~cleanroom.policy.schema`: the input schema (package data) and its validator.
- :mod:`~cleanroom.policy.revision`: the revision of a set of policies.
- :mod:`~cleanroom.policy.client`: :class:`PolicyClient`, which asks OPA and fails closed.
- :mod:`~cleanroom.policy.record`: a decision's record in the audit log.
- :mod:`~cleanroom.policy.opa` and :mod:`~cleanroom.policy.supervise`: running OPA itself.

The public names are re-exported here: ``from cleanroom.policy import PolicyClient``.
"""

from cleanroom.policy.client import (
    AREAS,
    AUDIT_UNAVAILABLE,
    INVALID_INPUT,
    UNAVAILABLE,
    Decision,
    PolicyClient,
    PolicyDataUnavailable,
    PolicyDenied,
)
from cleanroom.policy.facts import (
    CheckResult,
    FileFacts,
    GrantFacts,
    PersonFacts,
    ProjectFacts,
    RequestFacts,
    UserFacts,
    user_facts_from_groups,
)
from cleanroom.policy.inputs import (
    access_input,
    format_time,
    input_digest,
    release_input,
    review_input,
)
from cleanroom.policy.revision import revision_matches, revision_of_dir, revision_of_modules
from cleanroom.policy.schema import InputValidator, load_schema

__all__ = [
    "AREAS",
    "AUDIT_UNAVAILABLE",
    "INVALID_INPUT",
    "UNAVAILABLE",
    "CheckResult",
    "Decision",
    "FileFacts",
    "GrantFacts",
    "InputValidator",
    "PersonFacts",
    "PolicyClient",
    "PolicyDataUnavailable",
    "PolicyDenied",
    "ProjectFacts",
    "RequestFacts",
    "UserFacts",
    "access_input",
    "format_time",
    "input_digest",
    "load_schema",
    "release_input",
    "review_input",
    "revision_matches",
    "revision_of_dir",
    "revision_of_modules",
    "user_facts_from_groups",
]
