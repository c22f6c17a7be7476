"""The reverse proxy in docker-compose (issue 14, item 6): nginx from the official image is the
only published service, terminates TLS and sets the X-Forwarded-* headers Django and django-axes
trust; gunicorn is not reachable around it."""

from __future__ import annotations

import re
import subprocess

import yaml
from django.test import RequestFactory, override_settings

from tests.support.celery_worker import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
NGINX = (REPO / "deploy" / "nginx" / "rightlevel.conf").read_text()


def test_only_the_proxy_publishes_ports() -> None:
    services = COMPOSE["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["image"].startswith("nginx:")
    assert "8000" in [str(p) for p in services["web"]["expose"]]
    mounts = " ".join(services["proxy"]["volumes"])
    assert "deploy/nginx/rightlevel.conf" in mounts and "deploy/tls" in mounts


def test_the_proxy_terminates_tls_and_sets_the_forwarded_headers_itself() -> None:
    assert re.search(r"listen 443 ssl;", NGINX)
    assert "ssl_certificate /etc/nginx/tls/fullchain.pem;" in NGINX
    assert "proxy_set_header X-Forwarded-Proto https;" in NGINX  # replaces what a client sent
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in NGINX  # set, not appended
    assert "return 301 https://" in NGINX
    assert "limit_req zone=signin" in NGINX


def test_behind_the_proxy_axes_sees_the_clients_address() -> None:
    from axes.helpers import get_client_ip_address

    request = RequestFactory().post("/login/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="10.20.30.40")
    with override_settings(RIGHTLEVEL_BEHIND_PROXY=True):
        assert get_client_ip_address(request) == "10.20.30.40"
    # Without the proxy a client-sent X-Forwarded-For is ignored (it could be anything).
    assert get_client_ip_address(request) == "172.18.0.5"
    assert COMPOSE["x-app"]["environment"]["BEHIND_PROXY"] == "True"


def test_the_compose_file_is_valid() -> None:
    import shutil

    # scripts/test installs docker-compose (debian_packages_ensure): its absence is a failure, not a skip.
    assert shutil.which("docker-compose"), "docker-compose is missing: run scripts/test, which installs it"
    env = {
        "SECRET_KEY": "x", "AUDIT_KEY": "x", "ALLOWED_HOSTS": "x", "POSTGRES_PASSWORD": "x",
        "POSTGRES_OWNER_PASSWORD": "x", "POSTGRES_APP_PASSWORD": "x", "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
