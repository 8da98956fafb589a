"""Sign-in through an OpenID Connect provider, in a real Chromium: Pharos discovers a local
provider, sends the browser there with PKCE, exchanges the code with its client secret
(taken from the environment through `${...}` in the config), checks the ID token and opens
a session with the role the provider's claim gives. A person whose claim maps to no role is
refused.

    PHAROS_BIN=target/debug/pharos .venv/bin/python -m pytest tests/browser/test_oidc.py -q
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from harness import Pharos, free_port
from harness.oidc_provider import OidcProvider


def test_sign_in_through_an_oidc_provider(browser_context, admin_token, pharos_bin, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    provider = OidcProvider(client_id="pharos", client_secret="provider-secret-123",
                            redirect_uri=f"{base}/login/oidc/callback")
    config = (
        "web:\n"
        f"  external_url: {base}\n"
        "  oidc:\n"
        f"    issuer: {provider.url}\n"
        "    client_id: pharos\n"
        "    client_secret: ${OIDC_CLIENT_SECRET}\n"
        "    button: Sign in with TestID\n"
    )
    pharos = Pharos(tmp_path / "pharos", config=config, admin_token=admin_token, port=port,
                    env={"OIDC_CLIENT_SECRET": "provider-secret-123"})
    pharos.start()
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    try:
        page.goto(base + "/incidents")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Fincidents"))
        page.get_by_role("link", name="Sign in with TestID").click()
        expect(page).to_have_url(re.compile(re.escape(provider.url) + r"/authorize"))
        page.locator("input[name=user]").fill("olga")
        page.locator("input[name=role]").fill("editor")
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(base + "/incidents")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

        page.goto(base + "/api/v1/whoami")
        me = json.loads(page.locator("body").inner_text())
        assert me["kind"] == "user" and me["name"] == "olga" and me["role"] == "editor", me

        # Pharos authenticated itself to the token endpoint and proved PKCE.
        sent = provider.token_requests[-1]
        assert sent["client_id"] == "pharos"
        assert sent["form"].get("code_verifier"), sent
        assert "provider-secret-123" not in pharos.log.read_text()

        # Signed out, then back as someone the provider gives no Pharos role: refused.
        page.goto(base + "/incidents")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login"))
        page.get_by_role("link", name="Sign in with TestID").click()
        page.locator("input[name=user]").fill("mallory")
        page.locator("input[name=role]").fill("nobody")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("body")).to_contain_text("no Pharos role")
        page.goto(base + "/api/v1/whoami")
        assert "mallory" not in page.locator("body").inner_text()
    finally:
        pharos.stop()
        provider.close()
