"""Start-up refuses configurations that would weaken who may call the bot: Bot Framework
credentials without the tenant, and the test-only OpenID override outside test mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.bootstrap import bootstrap
from bot.runtime import StartupError
from bot.settings import Settings
from bot.web.app import create_app
from tests.helpers.served import serve

APP_ID = "c0ffee00-1234-4abc-8def-000000000001"
TENANT = "11111111-2222-3333-4444-555555555555"
METADATA = "http://127.0.0.1:9/.well-known/openid-configuration"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "var", key_file=tmp_path / "config" / "keys.json", **values)


async def test_credentials_without_a_tenant_refuse_to_bootstrap(tmp_path):
    for credentials in ({"MicrosoftAppPassword": "secret"}, {}):
        with pytest.raises(StartupError, match="MicrosoftAppTenantId is required"):
            await bootstrap(settings(tmp_path, MicrosoftAppId=APP_ID, **credentials))
    assert not (tmp_path / "var").exists()  # refused before anything was opened or created


def test_serve_with_credentials_but_no_tenant_exits_with_a_clear_error(tmp_path):
    result = serve(tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppPassword="secret")
    assert result.returncode == 2
    assert "MicrosoftAppTenantId is required" in result.stderr
    assert "secret" not in result.stderr


async def test_the_openid_override_without_test_mode_refuses_to_start(tmp_path):
    config = settings(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="secret",
        MicrosoftAppTenantId=TENANT,
        botframework_openid_metadata_url=METADATA,
    )
    with pytest.raises(StartupError, match="for tests only"):
        await bootstrap(config)
    with pytest.raises(StartupError, match="for tests only"):
        async with TestClient(TestServer(create_app(config))):
            pass
    # Even without credentials (the loopback playground mode) the override is refused.
    with pytest.raises(StartupError, match="for tests only"):
        await bootstrap(settings(tmp_path, botframework_openid_metadata_url=METADATA))


def test_serve_with_the_openid_override_and_no_test_mode_exits_with_a_clear_error(tmp_path):
    result = serve(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="secret",
        MicrosoftAppTenantId=TENANT,
        PERMANENCE_BOTFRAMEWORK_OPENID_METADATA_URL=METADATA,
    )
    assert result.returncode == 2
    assert "PERMANENCE_BOTFRAMEWORK_OPENID_METADATA_URL is for tests only" in result.stderr


def test_test_mode_is_refused_off_loopback(tmp_path):
    result = serve(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="secret",
        MicrosoftAppTenantId=TENANT,
        PERMANENCE_HOST="0.0.0.0",
        PERMANENCE_TEST_MODE="true",
        PERMANENCE_BOTFRAMEWORK_OPENID_METADATA_URL=METADATA,
    )
    assert result.returncode == 2
    assert "PERMANENCE_TEST_MODE is refused on 0.0.0.0" in result.stderr


async def test_credentials_with_a_tenant_start(tmp_path):
    runtime = await bootstrap(
        settings(tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppPassword="secret", MicrosoftAppTenantId=TENANT)
    )
    await runtime.close()
