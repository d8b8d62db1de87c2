"""gunicorn believes forwarded headers only from proxies it was told about."""

import importlib

import pytest
from gunicorn.config import Config

import config.gunicorn


def load(monkeypatch, **environ):
    for name in ("FORWARDED_ALLOW_IPS", "TRUST_X_FORWARDED_PROTO"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    module = importlib.reload(config.gunicorn)
    cfg = Config()
    cfg.set("forwarded_allow_ips", module.forwarded_allow_ips)  # gunicorn's own validation of the value
    return cfg.forwarded_allow_ips


@pytest.fixture(autouse=True)
def _restore():
    yield
    importlib.reload(config.gunicorn)


def test_nothing_configured_trusts_no_one(monkeypatch):
    assert load(monkeypatch) == []


def test_trust_x_forwarded_proto_false_trusts_no_one(monkeypatch):
    assert load(monkeypatch, TRUST_X_FORWARDED_PROTO="false") == []


def test_trust_x_forwarded_proto_trusts_the_local_proxy(monkeypatch):
    assert load(monkeypatch, TRUST_X_FORWARDED_PROTO="true") == ["127.0.0.1"]


def test_forwarded_allow_ips_names_the_proxies(monkeypatch):
    assert load(monkeypatch, FORWARDED_ALLOW_IPS="10.0.0.5,10.0.1.0/24") == ["10.0.0.5", "10.0.1.0/24"]
    assert load(monkeypatch, FORWARDED_ALLOW_IPS="", TRUST_X_FORWARDED_PROTO="true") == []
