# JupyterHub configuration for the clean room. Settings come from CLEANROOM_* environment
# variables (see `python -m cleanroom.settings`); the rules live in cleanroom.hub.config.
from cleanroom.host.prepare import admin_token, prepare_host, proxy_token
from cleanroom.hub.config import configure
from cleanroom.settings import Settings

settings = Settings.from_env()
prepare_host(settings)
configure(c, settings, admin_token(settings), proxy_token(settings))  # noqa: F821 - `c` is provided by JupyterHub
