from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService
from cleanroom.demo import setup as demo_setup
from cleanroom.settings import Settings


def test_demo_catalog_is_complete_and_a_second_run_adds_nothing(tmp_path):
    settings = Settings.from_env({"CLEANROOM_STATE_DIR": str(tmp_path)})
    first = demo_setup.ensure_demo_catalog(settings, rows=3000)
    assert any(step.startswith("project demo") for step in first)
    assert demo_setup.ensure_demo_catalog(settings, rows=3000) == []

    catalog = CatalogService.open(settings.catalog_database_url, AuditLog.from_state_dir(tmp_path))
    depositors = [o for o in catalog.list_organisations() if o.kind == "depositor"]
    assert len(depositors) >= 24  # a dozen companies in each dataset
    grants = {g.dataset: g for g in catalog.grants_for("demo")}
    assert grants["wafer_lots"].columns is None
    assert list(grants["weld_inspections"].columns) == demo_setup.WELD_COLUMNS
    assert all(g.materialisation_status == "ready" for g in grants.values())
    roles = {m.user: m.role for m in catalog.list_members("demo")}
    assert roles == {"researcher": "researcher", "reviewer": "reviewer", "checker": "reviewer"}
    # The review policy refuses reviewers of the requester's own organisation.
    orgs = {u.name: u.organisation for u in catalog.list_users()}
    assert orgs["reviewer"] != orgs["researcher"] and orgs["checker"] != orgs["researcher"]
    assert AuditLog.from_state_dir(tmp_path).verify().ok
