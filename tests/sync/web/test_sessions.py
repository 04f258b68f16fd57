"""Sessions of the plant web view kept in the plant store (SQLite and PostgreSQL): another
web process on the same store accepts them, only the token's hash is stored, idle and
absolute timeouts end them, logout deletes them, and a role change or a removed user
in the config ends them; the TLS files are checked when the config is read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from sync.aggregator import sessions_store
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.store import AggregatorStore
from sync.aggregator.web.app import create_app
from sync.aggregator.web.auth import Sessions, token_hash
from tests.conftest import REPO
from tests.sync.web.plant import PASSWORD, cfg
from tests.sync.web.test_app import csrf_of, login

T0 = 1_790_000_000.0


def with_users(c: AggregatorConfig, users: list[dict[str, Any]]) -> AggregatorConfig:
    """The same config with other web users (as after an edit and a restart)."""
    assert c.web is not None
    web = c.web.model_validate(c.web.model_dump() | {"users": users})
    return c.model_copy(update={"web": web})


def test_a_session_lives_in_the_store_not_in_the_process(agg_target: str) -> None:
    c = cfg(agg_target, session_idle_s=600, session_absolute_s=3600)
    assert c.web is not None
    a, b = AggregatorStore(agg_target), AggregatorStore(agg_target)  # two web processes
    try:
        s = Sessions(c.web, a).login("paula", PASSWORD, now=T0)
        assert s is not None and Sessions(c.web, a).login("paula", "wrong one", now=T0) is None
        other = Sessions(c.web, b)
        got = other.get(s.token, now=T0 + 10)
        assert got is not None and (got.user, got.role, got.csrf) == ("paula", "planner", s.csrf)
        # The store holds the token's hash, never the token.
        assert sessions_store.get(b, token_hash(s.token)) is not None
        assert not b.query("SELECT 1 FROM web_sessions WHERE token_hash = ?", (s.token,))
        assert other.get("x" + s.token, now=T0) is None
        # Idle: used at +500 (the use is written: older than touch_s), alive at +1000,
        # gone 600 s after its last use, and deleted.
        assert other.get(s.token, now=T0 + 500) is not None
        assert Sessions(c.web, a).get(s.token, now=T0 + 1000) is not None
        assert other.get(s.token, now=T0 + 1000 + 601) is None
        assert sessions_store.get(a, token_hash(s.token)) is None
        # Absolute: a session used every minute still ends an hour after its login.
        s2 = Sessions(c.web, a).login("victor", PASSWORD, now=T0)
        assert s2 is not None
        t = T0
        while t < T0 + 3540:
            t += 60
            assert other.get(s2.token, now=t) is not None, t
        assert other.get(s2.token, now=T0 + 3600) is None
        # Logout deletes it everywhere.
        s3 = Sessions(c.web, a).login("ada", PASSWORD, now=T0)
        assert s3 is not None
        other.logout(s3.token)
        assert Sessions(c.web, a).get(s3.token, now=T0 + 1) is None
    finally:
        a.close()
        b.close()


def test_a_role_change_or_a_removed_user_ends_their_sessions(agg_target: str) -> None:
    c = cfg(agg_target)
    assert c.web is not None
    st = AggregatorStore(agg_target)
    try:
        sess = Sessions(c.web, st)
        paula, victor, ada = (sess.login(u, PASSWORD, now=T0) for u in ("paula", "victor", "ada"))
        assert paula and victor and ada
        users = [u.model_dump() for u in c.web.users]
        users[0]["role"] = "viewer"  # paula is a planner no more
        del users[2]  # ada is gone
        changed = with_users(c, users)
        assert changed.web is not None
        after = Sessions(changed.web, st)
        assert after.get(paula.token, now=T0 + 5) is None  # refused at her next request
        assert after.revoke_stale(now=T0 + 5) == 1  # ada's at once
        assert sessions_store.get(st, token_hash(ada.token)) is None
        v = after.get(victor.token, now=T0 + 5)
        assert v is not None and v.role == "viewer"
        assert sessions_store.count(st) == 1
    finally:
        st.close()


def test_a_browser_keeps_its_session_across_a_restart_and_csrf_holds(tmp_path: Path) -> None:
    path = str(tmp_path / "plant.db")
    c = cfg(path)
    with TestClient(create_app(c), base_url="http://127.0.0.1") as one:
        csrf = login(one, "paula")
        cookies = dict(one.cookies)
    # The web process restarts (a new app on the store): the cookie still works, and
    # the CSRF token on its pages is the session's own.
    with TestClient(create_app(c), base_url="http://127.0.0.1", cookies=cookies) as two:
        page = two.get("/orders", params={"line": "acme/hamburg/filling/line1"})
        assert page.status_code == 200 and "paula · planner" in page.text
        assert csrf_of(page.text) == csrf
        r = two.post("/orders/release", data={"line": "acme/hamburg/filling/line1", "order_id": "WO-5"})
        assert r.status_code == 403 and "CSRF" in r.text
    # paula's role changed in the config: the restarted web view refuses her session.
    users = [u.model_dump() for u in c.web.users] if c.web else []
    users[0]["role"] = "quality"
    with TestClient(create_app(with_users(c, users)), base_url="http://127.0.0.1", cookies=cookies) as three:
        r = three.get("/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_new_login_ends_the_session_the_browser_had(tmp_path: Path) -> None:
    path = str(tmp_path / "plant.db")
    with TestClient(create_app(cfg(path)), base_url="http://127.0.0.1") as c:
        login(c, "victor")
        first = c.cookies["lineside_session"]
        login(c, "paula")
        assert c.cookies["lineside_session"] != first
        st = AggregatorStore(path)
        try:
            assert sessions_store.get(st, token_hash(first)) is None
            assert [u for u, _r, _v in sessions_store.holders(st)] == ["paula"]
        finally:
            st.close()


def test_session_timeouts_are_checked_in_the_config() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="session_absolute_s"):
        cfg("x.db", session_idle_s=7200, session_absolute_s=3600)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    c, k = folder / "web.crt", folder / "web.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    k.chmod(0o600)
    return c, k


def test_config_check_names_a_missing_or_wrong_tls_file(tmp_path: Path) -> None:
    crt, key = self_signed(tmp_path / "tls")
    other_crt, _ = self_signed(tmp_path / "other")
    (tmp_path / "folder.pem").mkdir()

    def check(tls: dict[str, str]) -> subprocess.CompletedProcess[str]:
        p = tmp_path / "aggregator.yaml"
        p.write_text(
            yaml.safe_dump(
                {
                    "store": {"path": "plant.db"},
                    "lines": [{"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line1"}],
                    "web": {"tls": tls},
                }
            )
        )
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", "config", "check", str(p)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = check({"certificate": "tls/web.crt", "private_key": str(key)})  # relative to the config
    assert ok.returncode == 0, ok.stderr
    bad = check({"certificate": "tls/missing.crt", "private_key": "folder.pem"})
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "web.tls.certificate:" in bad.stderr and "missing.crt: no such file" in bad.stderr
    assert "web.tls.private_key:" in bad.stderr and "folder.pem: a folder" in bad.stderr
    swapped = check({"certificate": str(key), "private_key": str(crt)})
    assert swapped.returncode == 2 and "not a PEM certificate" in swapped.stderr
    mismatch = check({"certificate": str(other_crt), "private_key": str(key)})
    assert mismatch.returncode == 2 and "web.tls.private_key:" in mismatch.stderr
    assert "does not load with" in mismatch.stderr


def test_the_live_board_ends_with_its_session(tmp_path: Path) -> None:
    """An open board stream stops once its session is gone (logged out elsewhere, expired
    or revoked): it does not go on showing the plant to a browser that lost its login."""
    import threading

    from tests.sync.web.plant import fill

    path = str(tmp_path / "plant.db")
    st = AggregatorStore(path)
    fill(st)
    st.close()
    app = create_app(cfg(path))
    app.state.web.live.session_recheck_s = 0.2
    with TestClient(app, base_url="http://127.0.0.1") as c:
        login(c, "victor")
        token = c.cookies["lineside_session"]
        other = AggregatorStore(path)  # another web process logs the session out
        c_web = cfg(path).web
        assert c_web is not None
        out = threading.Event()

        def log_out() -> None:
            Sessions(c_web, other).logout(token)
            out.set()

        end = threading.Timer(1.5, log_out)
        end.start()
        try:
            r = c.get("/events")  # returns when the stream has ended
            ended_after_logout = out.is_set()
        finally:
            end.join()
            other.close()
        assert r.status_code == 200 and r.text.startswith("retry: 2000")
        assert ended_after_logout  # live until the session was gone, not before
        assert c.get("/", follow_redirects=False).status_code == 303


def test_the_proxy_user_wins_over_an_older_session_in_the_browser(tmp_path: Path) -> None:
    path = str(tmp_path / "plant.db")
    app = create_app(cfg(path, proxy_user_header="X-Remote-User", trusted_proxies=["testclient"]))
    with TestClient(app) as c:  # the test client's address is "testclient"
        assert "sso.one · viewer" in c.get("/", headers={"X-Remote-User": "sso.one"}).text
        assert "sso.one · viewer" in c.get("/").text  # the cookie alone
        page = c.get("/", headers={"X-Remote-User": "ada"})  # someone else at this browser
        assert "ada · admin" in page.text and "sso.one" not in page.text
        st = AggregatorStore(path)
        try:
            assert [u for u, _r, _v in sessions_store.holders(st)] == ["ada"]
        finally:
            st.close()
