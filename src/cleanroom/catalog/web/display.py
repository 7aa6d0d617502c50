"""The display channel (read only): the bytes each researcher's browser received, per UTC day.

The edge filter (``cleanroom.edge.filter``) counts them in the display ledger
(``cleanroom.edge.display``) before it sends them; this page reads that ledger and the limits the
deployment's settings give it.
"""

from __future__ import annotations

from pathlib import Path

from cleanroom.catalog.web.base import CatalogHandler, needs_admin
from cleanroom.edge.display import RESERVE_BYTES, day_counts, ledger_path
from cleanroom.settings import Settings

DAYS = 14


class DisplayHandler(CatalogHandler):
    @needs_admin
    async def get(self) -> None:
        settings: Settings | None = self.settings.get("cleanroom_settings")
        if settings is None:
            settings = await self.call(Settings.from_env)
        path = ledger_path(Path(self.settings["state_dir"]))
        counts = await self.call(
            day_counts,
            path,
            settings.display_audit_threshold,
            settings.display_daily_quota,
            DAYS,
        )
        self.page(
            "display.html",
            counts=counts,
            days=DAYS,
            quota=settings.display_daily_quota,
            rate=settings.display_rate,
            burst=settings.display_burst,
            threshold=settings.display_audit_threshold,
            reserve=RESERVE_BYTES,
        )


default_handlers = [
    (r"display", DisplayHandler),
]
