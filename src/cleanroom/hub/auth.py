"""The hub's authenticator: NativeAuthenticator, with every sign-in attempt in the audit log."""

from __future__ import annotations

import asyncio

from nativeauthenticator import NativeAuthenticator
from traitlets import Unicode

from cleanroom.audit import AuditLog


class CleanRoomAuthenticator(NativeAuthenticator):
    """Real accounts (sign-ups wait for an admin); successes and failures are audited."""

    audit_state_dir = Unicode(
        "/var/lib/cleanroom",
        help="State directory whose audit log records sign-ins (see cleanroom.audit).",
    ).tag(config=True)

    async def authenticate(self, handler, data):
        result = await super().authenticate(handler, data)
        username = self.normalize_username((data or {}).get("username", ""))
        event = "login.succeeded" if result else "login.failed"
        remote = handler.request.remote_ip if handler is not None else None
        audit = AuditLog.from_state_dir(self.audit_state_dir)
        await asyncio.to_thread(audit.append, event, username[:128] or None, remote_ip=remote)
        return result
