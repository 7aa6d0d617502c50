# JupyterHub configuration for the clean room. Settings come from CLEANROOM_* environment
# variables (see `python -m cleanroom.settings`); the rules live in cleanroom.hub.config.
from typing import TYPE_CHECKING

from cleanroom.host.prepare import admin_token, prepare_host, proxy_token
from cleanroom.hub import forwarded
from cleanroom.hub.config import configure
from cleanroom.settings import Settings

if TYPE_CHECKING:
    from traitlets.config import Config

    c: Config  # JupyterHub runs this file with `c`, its configuration, defined

settings = Settings.from_env()
prepare_host(settings)
# Forwarded headers count only from the proxy (cleanroom.hub.forwarded).
forwarded.install(forwarded.hub_trusted_peers(settings.gateway))
configure(c, settings, admin_token(settings), proxy_token(settings))  # noqa: F821 - see above
