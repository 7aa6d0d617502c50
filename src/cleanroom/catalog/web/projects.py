"""Projects: the list and creating one; a page per project with its members (add, remove,
with their role) and its grants (grant, revoke, extend). Granting materialises the grant's
data before the grant is written: a job."""

from __future__ import annotations

from typing import Any

from cleanroom.catalog.errors import CatalogError
from cleanroom.catalog.models import PROJECT_ROLES
from cleanroom.catalog.web.base import CatalogHandler, needs_admin
from cleanroom.catalog.web.forms import clean, parse_columns, parse_date
from cleanroom.catalog.web.jobs import form_page, start_job
from cleanroom.errors import CleanRoomError

PROJECT = r"([a-z0-9][a-z0-9_.-]{0,62})"


async def project_page(
    handler: CatalogHandler,
    name: str,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> None:
    projects = {p.name: p for p in await handler.call(handler.catalog.list_projects)}
    if name not in projects:
        handler.error_page(404, f"There is no project {name!r}.")
        return
    members = await handler.call(handler.catalog.list_members, name)
    grants = await handler.call(handler.catalog.list_grants, name)
    users = await handler.call(handler.catalog.list_users)
    datasets = await handler.call(handler.catalog.list_datasets)
    member_names = {m.user for m in members}
    handler.page(
        "project.html",
        status=status,
        project=projects[name],
        members=members,
        grants=grants,
        candidates=[u for u in users if u.name not in member_names],
        datasets=datasets,
        roles=PROJECT_ROLES,
        form=form or {},
        error=error,
    )


@form_page("grant")
async def grant_page(
    handler: CatalogHandler,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> None:
    form = form or {}
    project, dataset_name = form.get("project", ""), form.get("dataset", "")
    try:
        await handler.call(handler.catalog.list_members, project)
        dataset = await handler.call(handler.catalog.get_dataset, dataset_name)
    except CatalogError as problem:
        handler.error_page(404, str(problem))
        return
    versions = {str(v.version): v for v in dataset.versions}
    version = versions.get(str(form.get("version") or "").lstrip("vV"), dataset.latest)
    handler.page(
        "grant_new.html",
        status=status,
        project=project,
        dataset=dataset,
        version=version,
        form={"scope": "all", "columns": [], **form, "version": str(version.version)},
        error=error,
    )


class ProjectsHandler(CatalogHandler):
    async def show_page(
        self, *, form: dict[str, Any] | None = None, error: str | None = None, status: int = 200
    ) -> None:
        projects = await self.call(self.catalog.list_projects)
        members = await self.call(self.catalog.list_members)
        grants = await self.call(self.catalog.list_grants)
        self.page(
            "projects.html",
            status=status,
            projects=projects,
            members={p.name: [m for m in members if m.project == p.name] for p in projects},
            active={p.name: sum(g.active for g in grants if g.project == p.name) for p in projects},
            form=form or {},
            error=error,
        )

    @needs_admin
    async def get(self) -> None:
        await self.show_page()

    @needs_admin
    async def post(self) -> None:
        form = {"name": self.argument("name"), "description": self.argument("description")}
        try:
            project = await self.call(
                self.catalog.create_project,
                form["name"],
                description=form["description"],
                actor=self.actor,
            )
        except CatalogError as error:
            await self.show_page(form=form, error=str(error), status=400)
            return
        self.done(self.url("projects", project.name), f"Created project {project.name}.")


class ProjectHandler(CatalogHandler):
    @needs_admin
    async def get(self, name: str) -> None:
        await project_page(self, name)


class MembersHandler(CatalogHandler):
    @needs_admin
    async def post(self, name: str) -> None:
        form = {
            "action": "add-member",
            "user": self.argument("user"),
            "role": self.argument("role"),
        }
        try:
            member = await self.call(
                self.catalog.add_member, name, form["user"], form["role"], actor=self.actor
            )
        except CatalogError as error:
            await project_page(self, name, form=form, error=str(error), status=400)
            return
        self.done(
            self.url("projects", name),
            f"{member.user} ({member.organisation}) is a {member.role} of {name}.",
        )


class MemberRemoveHandler(CatalogHandler):
    @needs_admin
    async def post(self, name: str) -> None:
        user = self.argument("user")
        try:
            await self.call(self.catalog.remove_member, name, user, actor=self.actor)
        except CatalogError as error:
            await project_page(
                self,
                name,
                form={"action": "remove-member", "user": user},
                error=str(error),
                status=400,
            )
            return
        self.done(self.url("projects", name), f"Removed {user} from {name}.")


class GrantNewHandler(CatalogHandler):
    @needs_admin
    async def get(self, name: str) -> None:
        await grant_page(
            self,
            form={
                "project": name,
                "dataset": clean(self.get_query_argument("dataset", "")),
                "version": clean(self.get_query_argument("version", "")),
            },
        )


class GrantsHandler(CatalogHandler):
    @needs_admin
    async def post(self, name: str) -> None:
        form: dict[str, Any] = {
            "project": name,
            "dataset": self.argument("dataset"),
            "version": self.argument("version"),
            "scope": self.argument("scope"),
            "columns": [c.strip() for c in self.get_body_arguments("columns")],
            "row_filter": self.argument("row_filter"),
            "expires": self.argument("expires"),
            "reason": self.argument("reason"),
        }
        try:
            columns = parse_columns(form["scope"], form["columns"])
            expires_at = parse_date(form["expires"], "expiry")
        except CleanRoomError as error:
            await grant_page(self, form=form, error=str(error), status=400)
            return
        catalog, actor, prefix, state_dir = (
            self.catalog,
            self.actor,
            self.prefix,
            self.settings["state_dir"],
        )

        def work(progress):
            from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
            from cleanroom.catalog.service import CatalogService

            materialising = CatalogService(
                catalog.sessions,
                catalog.audit,
                clock=catalog.clock,
                materialiser=grant_materialiser(grants_dir(state_dir), progress),
            )
            grant = materialising.grant(
                name,
                form["dataset"],
                version=form["version"] or None,
                columns=columns,
                row_filter=form["row_filter"] or None,
                expires_at=expires_at,
                reason=form["reason"],
                actor=actor,
            )
            what = "all columns" if grant.columns is None else ", ".join(grant.columns)
            return (
                f"Granted {name} {grant.dataset} {grant.version_label} ({what}) as grant "
                f"{grant.id}; its data is {grant.materialisation_status}.",
                f"{prefix}projects/{name}",
            )

        await start_job(self, "grant", f"Granting {form['dataset']} to {name}", work, form)


class GrantChangeHandler(CatalogHandler):
    """Revoke (``/grants/ID/revoke``, a reason) or extend (``/grants/ID/extend``, a date)."""

    @needs_admin
    async def post(self, grant_id: str, action: str) -> None:
        form = {
            "action": action,
            "grant": grant_id,
            "reason": self.argument("reason"),
            "expires": self.argument("expires"),
        }
        try:
            grant = await self.call(self.catalog.get_grant, grant_id)
        except CatalogError as error:
            self.error_page(404, str(error))
            return
        try:
            if action == "revoke":
                grant = await self.call(
                    self.catalog.revoke_grant, grant_id, reason=form["reason"], actor=self.actor
                )
                notice = f"Revoked grant {grant.id} ({grant.dataset} for {grant.project})."
            else:
                expires_at = parse_date(form["expires"], "new expiry")
                if expires_at is None:
                    raise CatalogError("give the new expiry date")
                grant = await self.call(
                    self.catalog.extend_grant,
                    grant_id,
                    expires_at,
                    reason=form["reason"],
                    actor=self.actor,
                )
                notice = f"Grant {grant.id} now runs until {grant.expires_at:%Y-%m-%d %H:%M} UTC."
        except CatalogError as error:
            await project_page(self, grant.project, form=form, error=str(error), status=400)
            return
        self.done(self.url("projects", grant.project), notice)


default_handlers = [
    (r"projects", ProjectsHandler),
    (rf"projects/{PROJECT}", ProjectHandler),
    (rf"projects/{PROJECT}/members", MembersHandler),
    (rf"projects/{PROJECT}/members/remove", MemberRemoveHandler),
    (rf"projects/{PROJECT}/grants/new", GrantNewHandler),
    (rf"projects/{PROJECT}/grants", GrantsHandler),
    (r"grants/([0-9]{1,12})/(revoke|extend)", GrantChangeHandler),
]
