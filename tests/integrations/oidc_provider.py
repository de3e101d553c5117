"""A small OpenID Connect provider for the tests, in a thread: discovery,
authorize (authorization-code flow, auto-approving the user the test chose,
PKCE S256), token (client secret checked, RS256-signed ID token with the
nonce), JWKS and userinfo. A real protocol implementation over HTTP; the client
side under test is mozilla-django-oidc, unmodified.

``tamper`` lets a test make the provider misbehave the way an attacker or a
broken provider would: a wrong nonce in the ID token, a token signed by
another key, a different subject in userinfo.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(number: int) -> str:
    return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@dataclass
class Provider:
    client_id: str = "palate-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    claims: dict = field(default_factory=dict)  # the user who "signs in" at authorize
    tamper: set = field(default_factory=set)  # "nonce", "signature", "subject"
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                     key_size=2048))
    kid: str = "test-key-1"
    codes: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks", "response_types_supported": ["code"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"]}

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}]}

    def sign(self, payload: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
        key = self.key
        if "signature" in self.tamper:  # a forger's key under our key id
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


def _handler(provider: Provider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            provider.requests.append(("GET", url.path, query))
            if url.path == "/.well-known/openid-configuration":
                return self._json(200, provider.discovery())
            if url.path == "/jwks":
                return self._json(200, provider.jwks())
            if url.path == "/authorize":
                if query.get("client_id") != provider.client_id or query.get("response_type") != "code":
                    return self._json(400, {"error": "invalid_request"})
                if "openid" not in query.get("scope", "").split():
                    return self._json(400, {"error": "invalid_scope"})
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {"redirect_uri": query["redirect_uri"], "nonce": query.get("nonce"),
                                        "challenge": query.get("code_challenge"),
                                        "claims": dict(provider.claims)}
                back = urlencode({"code": code, "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{back}")
                self.end_headers()
                return None
            if url.path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                claims = provider.tokens.get(token)
                if claims is None:
                    return self._json(401, {"error": "invalid_token"})
                if "subject" in provider.tamper:
                    claims = {**claims, "sub": "someone-else"}
                return self._json(200, claims)
            return self._json(404, {"error": "not_found"})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            seen = {k: v for k, v in form.items() if k != "client_secret"}
            provider.requests.append(("POST", self.path, seen))
            if self.path != "/token":
                return self._json(404, {"error": "not_found"})
            client = (form.get("client_id"), form.get("client_secret"))
            if client != (provider.client_id, provider.client_secret):
                return self._json(401, {"error": "invalid_client"})
            grant = provider.codes.pop(form.get("code", ""), None)  # a code is good once
            if grant is None or form.get("grant_type") != "authorization_code" \
                    or form.get("redirect_uri") != grant["redirect_uri"]:
                return self._json(400, {"error": "invalid_grant"})
            if grant["challenge"]:
                verifier = form.get("code_verifier", "")
                if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
            claims = grant["claims"]
            now = int(time.time())
            id_token = provider.sign({
                "iss": provider.issuer, "sub": claims["sub"], "aud": provider.client_id, "iat": now,
                "exp": now + 300, "nonce": "not-the-nonce" if "nonce" in provider.tamper else grant["nonce"]})
            access_token = secrets.token_urlsafe(24)
            provider.tokens[access_token] = claims
            return self._json(200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300,
                                    "id_token": id_token})

    return Handler


def provider_start(**kwargs) -> Provider:
    provider = Provider(**kwargs)
    provider.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    threading.Thread(target=provider.server.serve_forever, daemon=True).start()
    return provider
