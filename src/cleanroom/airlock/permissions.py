"""Who may do what with a release request: pairs of ``check_user_can_x`` (raises a typed
error whose message says why) and ``user_can_x`` (a bool), built from one place each.

Global scopes open doors at all (JupyterHub's custom scopes, from the caller's token); whether
a person may review *this* request is the review policy's answer (``review_allowed``, asked
from OPA by the service and passed in here). Nothing here reads a database or the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cleanroom.scopes import ADMINISTER, OWNER_APPROVE, REVIEW, SUBMIT  # noqa: F401 - re-exported

from .errors import AirlockError, Conflict, PermissionDenied
from .states import COMMENTABLE_STATES, EDITABLE_STATES, OPEN_STATES, RELEASABLE_STATES, State


@dataclass(frozen=True)
class Caller:
    """The person asking, as the hub vouched for them: name, the scopes of the token they
    came with, and their global groups."""

    name: str
    scopes: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return ADMINISTER in self.scopes

    @property
    def may_review(self) -> bool:
        return REVIEW in self.scopes or OWNER_APPROVE in self.scopes


@dataclass(frozen=True)
class RequestRef:
    """What permission checks need to know about a request."""

    id: str
    requester: str
    state: State


def _pair(check: Callable[..., None]) -> Callable[..., bool]:
    def user_can(*args, **kwargs) -> bool:
        try:
            check(*args, **kwargs)
        except AirlockError:
            return False
        return True

    user_can.__name__ = check.__name__.replace("check_user_can_", "user_can_")
    user_can.__doc__ = f"Bool form of :func:`{check.__name__}`."
    return user_can


def _own(caller: Caller, request: RequestRef, doing: str) -> None:
    if caller.name != request.requester:
        raise PermissionDenied(
            f"only {request.requester}, who made request {request.id}, may {doing}"
        )


def check_user_can_create_request(caller: Caller) -> None:
    if SUBMIT not in caller.scopes:
        raise PermissionDenied(
            f"{caller.name} may not ask for releases: that needs the scope {SUBMIT}, which "
            "researchers' servers hold (ask from your JupyterLab, or ask an admin to add you to "
            "the researcher group)"
        )


def check_user_can_edit_request(caller: Caller, request: RequestRef) -> None:
    """Add, replace or remove files, or submit."""
    check_user_can_create_request(caller)
    _own(caller, request, "change it")
    if request.state not in EDITABLE_STATES:
        raise Conflict(
            f"request {request.id} is {request.state.value}: files can be changed and the "
            "request submitted only while it is draft or returned"
        )


def check_user_can_submit_request(caller: Caller, request: RequestRef) -> None:
    check_user_can_edit_request(caller, request)


def check_user_can_withdraw_request(caller: Caller, request: RequestRef) -> None:
    _own(caller, request, "withdraw it")
    if request.state not in OPEN_STATES:
        raise Conflict(
            f"request {request.id} is {request.state.value}, no longer open: it cannot be withdrawn"
        )


def check_user_can_view_request(
    caller: Caller, request: RequestRef, review_allowed: bool = False
) -> None:
    """The requester, an admin, or someone the review policy lets review it (not a draft)."""
    if caller.name == request.requester or caller.is_admin:
        return
    if caller.may_review and review_allowed and request.state != State.DRAFT:
        return
    raise PermissionDenied(
        f"{caller.name} may not see request {request.id}: only its requester, admins, the "
        "project's reviewers and the data owners of organisations whose rows went into it may "
        "(ask an admin if you should be one of them)"
    )


def check_user_can_see_contents(
    caller: Caller, request: RequestRef, review_allowed: bool = False
) -> None:
    """Previews and diffs of the bytes: reviewers and admins, never the requester (unreleased
    bytes never reach the requester, and pages are reachable from inside the container)."""
    if caller.name == request.requester:
        raise PermissionDenied(
            "the files' contents are shown to reviewers only; you download approved files "
            "from the airlock's pages outside the clean room"
        )
    check_user_can_view_request(caller, request, review_allowed)


def check_user_can_see_full_view(
    caller: Caller, request: RequestRef, review_allowed: bool, peer_in_clean_room: bool
) -> None:
    """The whole of a file, page by page: who may see previews, and only in a browser outside
    the clean room (never to a researcher's server, from which a reviewer who is also a
    researcher could read whole files into a container)."""
    check_user_can_see_contents(caller, request, review_allowed)
    if peer_in_clean_room:
        raise PermissionDenied(
            "the full view of a file is refused from inside the clean room: open the airlock's "
            "pages in your own browser, outside any JupyterLab server"
        )


def check_user_can_vote(caller: Caller, request: RequestRef, review_allowed: bool) -> None:
    if caller.name == request.requester:
        raise PermissionDenied("nobody may review their own request")
    if not caller.may_review:
        raise PermissionDenied(
            f"{caller.name} may not review: that needs the scope {REVIEW} or {OWNER_APPROVE}"
        )
    if not review_allowed:
        raise PermissionDenied(f"the review policy does not let {caller.name} review {request.id}")
    if request.state != State.IN_REVIEW:
        raise Conflict(
            f"request {request.id} is {request.state.value}: votes are taken only while it is "
            "in review"
        )


def check_user_can_comment(caller: Caller, request: RequestRef, review_allowed: bool) -> None:
    """The requester, and those the review policy lets review it, only while it is in review:
    a comment is read by reviewers before anything is released, never only by its author."""
    if caller.name != request.requester:
        if not caller.may_review:
            raise PermissionDenied(
                f"{caller.name} may not comment on request {request.id}: only its requester "
                f"and its reviewers may ({REVIEW} or {OWNER_APPROVE})"
            )
        if not review_allowed:
            raise PermissionDenied(
                f"the review policy does not let {caller.name} review {request.id}, so they "
                "may not comment on it"
            )
    if request.state not in COMMENTABLE_STATES:
        raise Conflict(
            f"request {request.id} is {request.state.value}: comments are taken only while a "
            "request is in review, where reviewers read them; to explain a draft or a returned "
            "request, write it in the justification when you submit"
        )


def check_user_can_revoke(caller: Caller, request: RequestRef) -> None:
    if not caller.is_admin:
        raise PermissionDenied(f"only admins ({ADMINISTER}) may revoke a release")
    if request.state not in RELEASABLE_STATES:
        raise Conflict(
            f"request {request.id} is {request.state.value}: only approved or released requests "
            "can be revoked"
        )


def check_user_can_download(caller: Caller, request: RequestRef, peer_in_clean_room: bool) -> None:
    """Only the requester, only approved bytes, only from outside the clean room."""
    _own(caller, request, "download its files")
    if request.state not in RELEASABLE_STATES:
        raise PermissionDenied(
            f"request {request.id} is {request.state.value}: files are downloadable only once "
            "approved"
        )
    if peer_in_clean_room:
        raise PermissionDenied(
            "downloads are refused from inside the clean room: open the airlock's page in "
            "your own browser, outside your JupyterLab server, to download"
        )


def check_user_can_administer(caller: Caller) -> None:
    """The admin pages: all requests, revoke, the audit log."""
    if not caller.is_admin:
        raise PermissionDenied(f"these pages are for admins: they need the scope {ADMINISTER}")


user_can_create_request = _pair(check_user_can_create_request)
user_can_edit_request = _pair(check_user_can_edit_request)
user_can_submit_request = _pair(check_user_can_submit_request)
user_can_withdraw_request = _pair(check_user_can_withdraw_request)
user_can_view_request = _pair(check_user_can_view_request)
user_can_see_contents = _pair(check_user_can_see_contents)
user_can_see_full_view = _pair(check_user_can_see_full_view)
user_can_vote = _pair(check_user_can_vote)
user_can_comment = _pair(check_user_can_comment)
user_can_revoke = _pair(check_user_can_revoke)
user_can_download = _pair(check_user_can_download)
user_can_administer = _pair(check_user_can_administer)
