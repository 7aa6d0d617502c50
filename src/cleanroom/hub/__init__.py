"""What runs inside JupyterHub: its configuration, login, the spawner, the mounts a server gets,
the grant watcher and the hub's home page."""
