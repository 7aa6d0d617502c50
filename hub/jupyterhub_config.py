# JupyterHub configuration for the clean room. Settings come from CLEANROOM_* environment
# variables (see `python -m cleanroom.settings`); the rules live in cleanroom.config.
from cleanroom.config import configure
from cleanroom.host import admin_token, prepare_host, proxy_token
from cleanroom.settings import Settings

settings = Settings.from_env()
prepare_host(settings)
configure(c, settings, admin_token(settings), proxy_token(settings))  # noqa: F821 - `c` is provided by JupyterHub
