from cleanroom.edge import render
from cleanroom.settings import Settings


def test_nginx_listens_on_tls_and_forwards_to_the_loopback_proxy():
    settings = Settings.from_env(
        {
            "CLEANROOM_HTTPS_PORT": "8443",
            "CLEANROOM_PROXY_PORT": "8123",
            "CLEANROOM_STATE_DIR": "/srv/cr",
        }
    )
    text = render(settings)
    assert "listen 0.0.0.0:8443 ssl;" in text
    assert "proxy_pass http://127.0.0.1:8123;" in text
    assert "ssl_certificate /srv/cr/tls/selfsigned.crt;" in text
    assert "$http_upgrade" in text and "$$" not in text


def test_real_certificate_by_configuration():
    settings = Settings.from_env(
        {"CLEANROOM_TLS_CERT": "/etc/ssl/vault.pem", "CLEANROOM_TLS_KEY": "/etc/ssl/vault.key"}
    )
    text = render(settings)
    assert "ssl_certificate /etc/ssl/vault.pem;" in text
    assert "ssl_certificate_key /etc/ssl/vault.key;" in text
