from cleanroom.host.nginx import hub_csp, render
from cleanroom.settings import Settings


def test_nginx_listens_on_tls_and_sends_each_host_its_way():
    settings = Settings.from_env(
        {
            "CLEANROOM_HTTPS_PORT": "8443",
            "CLEANROOM_PROXY_PORT": "8123",
            "CLEANROOM_EDGE_PORT": "8124",
            "CLEANROOM_STATE_DIR": "/srv/cr",
            "CLEANROOM_PUBLIC_HOST": "vault.example.org",
        }
    )
    text = render(settings)
    assert "listen 0.0.0.0:8443 ssl default_server;" in text  # the public host
    assert "server_name vault.example.org;" in text
    assert "server_name *.vault.example.org;" in text  # researchers' servers
    assert "server 127.0.0.1:8123;" in text and "server 127.0.0.1:8124;" in text
    assert "proxy_set_header Host vault.example.org:8443;" in text
    assert "'https://vault.example.org:8443' 0;" in text  # the only origin for state changes
    assert "ssl_certificate /srv/cr/tls/selfsigned.crt;" in text
    assert "$http_upgrade" in text and "$$" not in text
    assert "form-action 'self' https://*.vault.example.org:8443" in hub_csp(settings)


def test_real_certificate_by_configuration():
    settings = Settings.from_env(
        {"CLEANROOM_TLS_CERT": "/etc/ssl/vault.pem", "CLEANROOM_TLS_KEY": "/etc/ssl/vault.key"}
    )
    text = render(settings)
    assert "ssl_certificate /etc/ssl/vault.pem;" in text
    assert "ssl_certificate_key /etc/ssl/vault.key;" in text
