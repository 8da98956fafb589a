"""A small OpenID Connect provider on loopback, for testing Pharos's sign-in through OIDC:
discovery, an authorization endpoint with a sign-in form (the person picks who they are),
the token endpoint (authorization code with PKCE S256, client secret by basic auth or in
the form) and the JWKS with an RS256 key. It checks what a real provider checks and
records each token request so tests can see what Pharos sent.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from werkzeug.serving import make_server


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class OidcProvider:
    client_id: str
    client_secret: str
    redirect_uri: str
    role_claim: str = "pharos_role"
    url: str = ""
    token_requests: list = field(default_factory=list)

    def __post_init__(self):
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._codes: dict[str, dict] = {}
        app = Flask("oidc-provider")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self._discovery)
        app.add_url_rule("/authorize", view_func=self._authorize, methods=["GET", "POST"])
        app.add_url_rule("/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/jwks", view_func=self._jwks)
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()

    def _discovery(self):
        return jsonify(
            issuer=self.url,
            authorization_endpoint=f"{self.url}/authorize",
            token_endpoint=f"{self.url}/token",
            jwks_uri=f"{self.url}/jwks",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        )

    def _jwks(self):
        pub = self._key.public_key().public_numbers()
        return jsonify(keys=[{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
                              "n": _b64(pub.n), "e": _b64(pub.e)}])

    def _authorize(self):
        args = request.values
        problems = []
        if args.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if args.get("redirect_uri") != self.redirect_uri:
            problems.append(f"redirect_uri {args.get('redirect_uri')!r} is not registered")
        if args.get("response_type") != "code":
            problems.append("response_type must be code")
        if "openid" not in (args.get("scope") or "").split():
            problems.append("scope must include openid")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            problems.append("PKCE S256 required")
        if problems:
            return "; ".join(problems), 400
        if request.method == "GET":
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in args.items()
            )
            return (
                "<!doctype html><title>Test provider</title><form method=post>"
                f"{hidden}<label>User <input name=user value=olga></label>"
                "<label>Role <input name=role value=editor></label>"
                "<button type=submit>Continue</button></form>"
            )
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "nonce": args.get("nonce"),
            "challenge": args["code_challenge"],
            "user": args.get("user", "olga"),
            "role": args.get("role", ""),
            "at": time.time(),
        }
        query = urllib.parse.urlencode({"code": code, "state": args.get("state", "")})
        return "", 302, {"Location": f"{self.redirect_uri}?{query}"}

    def _token(self):
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = urllib.parse.unquote(request.authorization.username or "")
            secret = urllib.parse.unquote(request.authorization.password or "")
        self.token_requests.append({"client_id": client_id, "form": dict(form)})
        if client_id != self.client_id or secret != self.client_secret:
            return jsonify(error="invalid_client"), 401
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return jsonify(error="invalid_grant"), 400
        if form.get("redirect_uri") != self.redirect_uri:
            return jsonify(error="invalid_grant", error_description="redirect_uri"), 400
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return jsonify(error="invalid_grant", error_description="PKCE"), 400
        now = int(time.time())
        claims = {
            "iss": self.url, "sub": f"sub-{grant['user']}", "aud": self.client_id,
            "iat": now, "exp": now + 300, "nonce": grant["nonce"],
            "preferred_username": grant["user"], "email": f"{grant['user']}@example.com",
        }
        if grant["role"]:
            claims[self.role_claim] = grant["role"]
        id_token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": "k1"})
        return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer",
                       expires_in=300, id_token=id_token)
