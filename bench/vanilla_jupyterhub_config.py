# The baseline for bench/spawn.py: a vanilla DockerSpawner with its default settings, changed
# only where it must be to run here (addresses, a token for the benchmark, the same image).
import os

c = get_config()  # noqa: F821
state = os.environ["BENCH_STATE_DIR"]
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = f"{state}/proxy.pid"
c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ['BENCH_PROXY_PORT']}/"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ['BENCH_PROXY_API_PORT']}"
c.JupyterHub.hub_bind_url = f"http://{os.environ['BENCH_HUB_IP']}:{os.environ['BENCH_HUB_PORT']}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = os.environ["BENCH_IMAGE"]
c.DockerSpawner.name_template = "vanilla-{username}"
c.JupyterHub.services = [{"name": "bench", "api_token": os.environ["BENCH_TOKEN"]}]
c.JupyterHub.load_roles = [
    {"name": "bench", "scopes": ["admin:users", "admin:servers"], "services": ["bench"]}
]
# The image's /etc/jupyter configuration is the clean room's (kernels through a gateway in a
# second container); vanilla runs its kernels in its own container, as Jupyter does by default.
c.DockerSpawner.args = [
    "--GatewayClient.url=",
    "--ServerApp.kernel_manager_class="
    "jupyter_server.services.kernels.kernelmanager.AsyncMappingKernelManager",
    "--ServerApp.kernel_spec_manager_class=jupyter_client.kernelspec.KernelSpecManager",
    "--ServerApp.kernel_websocket_connection_class="
    "jupyter_server.services.kernels.connection.channels.ZMQChannelsWebsocketConnection",
]
# Raised so that 20 servers starting at once all finish (bench/spawn.py, burst).
c.Spawner.start_timeout = 900
c.Spawner.http_timeout = 900
