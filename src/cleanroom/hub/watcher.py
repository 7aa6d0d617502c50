"""The grant watcher: revocation and expiry reach running servers.

A JupyterHub-managed service. Every few seconds it asks, for each running server, the same
question the spawner asked before it started (catalog facts in, OPA's answer out). When a grant
the server mounted no longer applies (revoked, expired, the researcher left the project, or
the policy changed), the server is stopped: its data is withdrawn now, not at some later
restart. The next start asks again and mounts only what still applies, saying why on the spawn
page. Every stop is in the audit log.

Every active server is looked at, page after page of the hub's user list. When OPA does not
answer, the catalog's own record still decides the clear cases: a server that mounted a grant
the catalog says is revoked, expired or gone, or whose researcher is no longer a member of the
project, is stopped all the same (:func:`withdrawn_by_catalog`). Only what needs the policy
(a changed rule) waits for it to answer again; a policy outage must not kill every
researcher's kernels, and no new server starts meanwhile, since spawns fail closed.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService
from cleanroom.host import homes
from cleanroom.hub import mounts as projectdata
from cleanroom.hubapi import HubAPI
from cleanroom.policy import UNAVAILABLE, PolicyClient
from cleanroom.scopes import GLOBAL_ROLES
from cleanroom.settings import Settings

log = logging.getLogger("cleanroom.hub.watcher")


class GrantWatcher:
    def __init__(
        self,
        api: HubAPI,
        catalog: CatalogService,
        policy: PolicyClient,
        audit: AuditLog,
        sessions_dir: Path,
    ):
        self.api = api
        self.catalog = catalog
        self.policy = policy
        self.audit = audit
        self.sessions_dir = sessions_dir

    def check_once(self) -> list[str]:
        """Check every running server once; return the names of the users stopped."""
        stopped = []
        for user in self.api.every("/users?state=active"):
            server = (user.get("servers") or {}).get("")
            if not server or not server.get("ready"):
                continue
            if self._check_server(user["name"], user.get("groups", []), server):
                stopped.append(user["name"])
        return stopped

    def _check_server(self, name: str, groups: list[str], server: dict) -> bool:
        project = (server.get("user_options") or {}).get("project") or None
        session_dir = self.sessions_dir / homes.home_key(name, project)
        mounted = set(projectdata.mounted_grant_ids(session_dir))
        roles = tuple(sorted(g for g in groups if g in GLOBAL_ROLES))
        try:
            facts = projectdata.gather_facts(self.catalog, name, roles, project)
        except Exception as error:  # noqa: BLE001 - an unknown project applies to nothing
            log.warning("facts for %s in %s: %s", name, project, error)
            decision_allowed, still, reasons = False, set(), [str(error)]
        else:
            decision = self.policy.access(facts.user, facts.project, facts.grants)
            if decision.reasons == (UNAVAILABLE,):
                withdrawn = withdrawn_by_catalog(facts, mounted)
                if not withdrawn:
                    log.warning("policy service unavailable; %s's server left as it is", name)
                    return False
                log.warning("policy service unavailable; the catalog withdrew %s", withdrawn)
                reasons = [UNAVAILABLE] + [f"grant {g}: {why}" for g, why in withdrawn.items()]
                still = mounted - set(withdrawn)
                return self._stop(name, project, session_dir, mounted, still, reasons)
            decision_allowed = decision.allowed
            still = set(map(str, decision.result.get("grants", []))) if decision.allowed else set()
            excluded = {
                str(e["id"]): e["reason"] for e in decision.result.get("excluded_grants", [])
            }
            reasons = list(decision.reasons) + [
                f"grant {g}: {excluded.get(g, 'no longer applies')}"
                for g in sorted(mounted - still)
            ]
        if decision_allowed and mounted <= still:
            return False
        return self._stop(name, project, session_dir, mounted, still, reasons)

    def _stop(
        self,
        name: str,
        project: str | None,
        session_dir: Path,
        mounted: set[str],
        still: set[str],
        reasons: list[str],
    ) -> bool:
        log.info("stopping %s's server: %s", name, "; ".join(reasons))
        projectdata.record_stop(session_dir, reasons)
        self.api.call("DELETE", f"/users/{name}/server")
        self.audit.append(
            "grant.withdrawn",
            name,
            project=project,
            grants=sorted(mounted - still),
            reasons=reasons,
        )
        return True


def withdrawn_by_catalog(facts: projectdata.AccessFacts, mounted: set[str]) -> dict[str, str]:
    """The mounted grants the catalog's own record withdraws, each with why, without asking
    the policy: revoked, expired, no longer in the catalog, or every grant when the researcher
    is no longer a member of the project."""
    infos = {str(g.id): g for g in facts.grant_infos}
    if facts.project is not None and facts.project.role is None:
        return {g: "you are no longer a member of the project" for g in sorted(mounted)}
    withdrawn = {}
    for grant_id in sorted(mounted):
        info = infos.get(grant_id)
        if info is None:
            withdrawn[grant_id] = "no longer in the catalog"
        elif info.revoked:
            withdrawn[grant_id] = "revoked"
        elif info.expired:
            withdrawn[grant_id] = "expired"
    return withdrawn


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    interval = settings.grant_check_interval
    audit = AuditLog.from_state_dir(settings.state_dir)
    api = HubAPI.from_api_url(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    watcher = GrantWatcher(
        api,
        CatalogService.open(settings.catalog_database_url, audit),
        PolicyClient(settings.policy_url, audit=audit),
        audit,
        settings.state_path / "sessions",
    )
    log.info("checking running servers' grants every %s s", interval)
    while True:
        try:
            watcher.check_once()
        except Exception:  # noqa: BLE001 - one bad round must not end the watcher
            log.exception("grant check failed; trying again in %s s", interval)
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
