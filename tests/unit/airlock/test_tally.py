"""Truth table for the vote tally (cleanroom.airlock.tally.outcome): what the counting votes
on a request in review decide, for one and two files, one and two required reviewers, with and
without data owners' co-approval.

The expected outcomes are written out by hand, so that a change to the rule has to be made
here as well, on purpose.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from cleanroom.airlock.enums import State
from cleanroom.airlock.tally import outcome

APPROVED, RETURNED, REJECTED, WAITING = State.APPROVED, State.RETURNED, State.REJECTED, None
A, C, X = "approve", "changes", "reject"
ACME, ACME_BOLT = ("acme",), ("acme", "bolt")


@dataclass(frozen=True)
class Ballot:
    reviewer: str
    decision: str
    capacities: tuple[str, ...] = ("reviewer",)
    organisations: tuple[str, ...] = ()


def rev(name: str, decision: str = A) -> Ballot:
    """A vote cast in the reviewer capacity."""
    return Ballot(name, decision)


def own(name: str, org: str, decision: str = A) -> Ballot:
    """A vote cast as the data owner of ``org`` only."""
    return Ballot(name, decision, ("data-owner",), (org,))


def both(name: str, org: str, decision: str = A) -> Ballot:
    """A vote cast as reviewer and as the data owner of ``org`` at once."""
    return Ballot(name, decision, ("data-owner", "reviewer"), (org,))


# Approvals: two reviewers, acme's and bolt's data owners, a reviewer who is also acme's data
# owner, and a reviewer whose vote names acme without the data-owner capacity.
RITA, ROWAN = rev("rita"), rev("rowan")
OTTO, OLGA = own("otto", "acme"), own("olga", "bolt")
RHEA = both("rhea", "acme")
RITA_ACME = Ballot("rita", A, ("reviewer",), ("acme",))


# (id, votes on each current file, reviewers_required, owner organisations, expected)
TABLE = [
    # -- one file, one reviewer required -------------------------------------------------------
    ("no files", [], 1, (), WAITING),
    ("no votes yet", [[]], 1, (), WAITING),
    ("approve", [[RITA]], 1, (), APPROVED),
    ("changes", [[rev("rita", C)]], 1, (), RETURNED),
    ("reject", [[rev("rita", X)]], 1, (), REJECTED),
    ("approve+approve", [[RITA, ROWAN]], 1, (), APPROVED),
    ("approve+changes", [[RITA, rev("rowan", C)]], 1, (), RETURNED),
    ("approve+reject", [[RITA, rev("rowan", X)]], 1, (), REJECTED),
    ("changes+reject", [[rev("rita", C), rev("rowan", X)]], 1, (), REJECTED),
    ("changes+changes", [[rev("rita", C), rev("rowan", C)]], 1, (), RETURNED),
    ("no capacity", [[Ballot("x", A, ())]], 1, (), WAITING),
    ("unknown decision", [[rev("rita", "maybe")]], 1, (), WAITING),
    # -- reviewers_required None or 0 counts as 1 ----------------------------------------------
    ("None: approve", [[RITA]], None, (), APPROVED),
    ("0: approve", [[RITA]], 0, (), APPROVED),
    ("None: no votes", [[]], None, (), WAITING),
    # -- one file, two reviewers required ------------------------------------------------------
    ("2: one approves", [[RITA]], 2, (), WAITING),
    ("2: two approve", [[RITA, ROWAN]], 2, (), APPROVED),
    ("2: same person twice", [[RITA, RITA]], 2, (), WAITING),
    ("2: changes at once", [[RITA, rev("rowan", C)]], 2, (), RETURNED),
    ("2: reject at once", [[rev("rita", X)]], 2, (), REJECTED),
    ("2: owner is no reviewer", [[RITA, OTTO]], 2, (), WAITING),
    ("2: reviewer-and-owner counts", [[RITA, RHEA]], 2, (), APPROVED),
    ("3: two approve", [[RITA, ROWAN]], 3, (), WAITING),
    # -- two files: each must be approved; any file returns or rejects the request -------------
    ("files: one of two approved", [[RITA], []], 1, (), WAITING),
    ("files: each by another", [[RITA], [ROWAN]], 1, (), APPROVED),
    ("files: approve, changes", [[RITA], [rev("rowan", C)]], 1, (), RETURNED),
    ("files: approve, reject", [[RITA], [rev("rowan", X)]], 1, (), REJECTED),
    ("files: changes, reject", [[rev("rita", C)], [rev("rita", X)]], 1, (), REJECTED),
    ("files: changes, none", [[rev("rita", C)], []], 1, (), RETURNED),
    ("files 2: two, one", [[RITA, ROWAN], [RITA]], 2, (), WAITING),
    ("files 2: two, two", [[RITA, ROWAN], [ROWAN, RITA]], 2, (), APPROVED),
    # -- data owners' co-approval --------------------------------------------------------------
    ("acme: reviewer only", [[RITA]], 1, ACME, WAITING),
    ("acme: reviewer, owner", [[RITA, OTTO]], 1, ACME, APPROVED),
    ("acme: owner only", [[OTTO]], 1, ACME, WAITING),
    ("acme: bolt's owner", [[RITA, OLGA]], 1, ACME, WAITING),
    ("both: acme's only", [[RITA, OTTO]], 1, ACME_BOLT, WAITING),
    ("both: both", [[RITA, OTTO, OLGA]], 1, ACME_BOLT, APPROVED),
    ("acme: one person, both", [[RHEA]], 1, ACME, APPROVED),
    ("acme: org without capacity", [[RITA_ACME]], 1, ACME, WAITING),
    ("acme: one file of two", [[RITA, OTTO], [RITA]], 1, ACME, WAITING),
    ("acme: both files", [[RITA, OTTO], [ROWAN, OTTO]], 1, ACME, APPROVED),
    ("acme: owner changes", [[RITA, own("otto", "acme", C)]], 1, ACME, RETURNED),
    ("acme: owner rejects", [[RITA, own("otto", "acme", X)]], 1, ACME, REJECTED),
    ("none: owner approves too", [[RITA, OTTO]], 1, (), APPROVED),
    ("acme 2: one reviewer", [[RITA, OTTO]], 2, ACME, WAITING),
    ("acme 2: two reviewers", [[RITA, ROWAN, OTTO]], 2, ACME, APPROVED),
    ("acme 2: one is also owner", [[RITA, RHEA]], 2, ACME, APPROVED),
]


@pytest.mark.parametrize(
    ("files_votes", "required", "owners", "expected"),
    [
        pytest.param(votes, required, owners, expected, id=name)
        for name, votes, required, owners, expected in TABLE
    ],
)
def test_tally_truth_table(files_votes, required, owners, expected):
    assert outcome(files_votes, required, owners) == expected


def test_the_table_names_are_unique():
    names = [row[0] for row in TABLE]
    assert len(names) == len(set(names))


DECISIONS = (None, "approve", "changes", "reject")


@pytest.mark.parametrize("required", [1, 2])
def test_every_mix_of_two_reviewers_on_two_files(required):
    """All 256 ways two reviewers can vote (or not yet) on two files: a reject anywhere
    rejects, else a request for changes anywhere returns, else the request is approved exactly
    when each file has ``required`` approvals."""
    for cast in itertools.product(DECISIONS, repeat=4):  # (rita a, rowan a, rita b, rowan b)
        files = [
            [rev(who, d) for who, d in zip(("rita", "rowan"), cast[:2], strict=True) if d],
            [rev(who, d) for who, d in zip(("rita", "rowan"), cast[2:], strict=True) if d],
        ]
        if "reject" in cast:
            expected = REJECTED
        elif "changes" in cast:
            expected = RETURNED
        elif cast[:2].count("approve") >= required and cast[2:].count("approve") >= required:
            expected = APPROVED
        else:
            expected = WAITING
        assert outcome(files, required, ()) == expected, (cast, required)


def test_the_tally_reads_nothing_but_what_it_is_given():
    """Generators and sets are fine for the organisations; the votes are not changed."""
    votes = [[rev("rita"), own("otto", "acme")]]
    frozen = [list(v) for v in votes]
    assert outcome(votes, 1, iter({"acme"})) == APPROVED
    assert votes == frozen
