"""Password hashing and signed session cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from itsdangerous import BadSignature, URLSafeTimedSerializer

# scrypt from the standard library: memory-hard and needs no native dependency. Each
# hash stores its cost and is verified at it, so raising the cost keeps old hashes valid.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_COOKIE = "gradeflow_session"
SESSION_MAX_AGE_S = 400 * 24 * 3600
VERIFIED_COOKIES = 50_000
CSRF_COOKIE = "gradeflow_csrf"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    parts = ["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P)]
    parts += [base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    return "$".join(parts)


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


class SessionSigner:
    """Signs the user id into the session cookie; the cookie is the whole session."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="gradeflow.session")
        self._form_key = hashlib.sha256(b"gradeflow.form\0" + secret_key.encode()).digest()
        # Cookies verified lately, with the user id and the time each stops being valid:
        # verifying costs more than the rest of a cached read.
        self._verified: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def form_token(self, browser_key: str) -> str:
        """The CSRF token of a browser's forms: only our pages can know it.

        ``browser_key`` is the random value of the browser's CSRF cookie; another
        site can neither read the cookie nor compute this from it.
        """
        return hmac.new(self._form_key, browser_key.encode(), hashlib.sha256).hexdigest()

    def form_token_matches(self, browser_key: str, token: str) -> bool:
        return hmac.compare_digest(self.form_token(browser_key), token)

    def dumps(self, user_id: int) -> str:
        return self._serializer.dumps({"uid": user_id})

    def loads(self, cookie: str) -> int | None:
        verified = self._verified.get(cookie)
        if verified is not None and time.time() < verified[1]:
            self._verified.move_to_end(cookie)
            return verified[0]
        try:
            data, signed_at = self._serializer.loads(
                cookie, max_age=SESSION_MAX_AGE_S, return_timestamp=True
            )
        except BadSignature:
            return None
        uid = data.get("uid") if isinstance(data, dict) else None
        if not isinstance(uid, int):
            return None
        self._verified[cookie] = (uid, signed_at.timestamp() + SESSION_MAX_AGE_S)
        if len(self._verified) > VERIFIED_COOKIES:
            self._verified.popitem(last=False)
        return uid
