"""The agent's operator channel: `lineside write` through the running agent's allow-list
(authenticated, audited, exit 0/3/1/2, values out of the tag type's range refused, never
an uncaught ValueError), and the separation of the signing key from the process
operators use: the terminal's user reads the store, cannot read the key, cannot write,
and still works through the channel; the channel checks its peer."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.config.line import LineConfig
from edge.config.operators import hash_pin
from edge.core.errors import StoreError
from edge.runtime.agent import Agent, coerce
from edge.runtime.channel import OperatorChannel, Peer
from edge.services import audit as audit_service
from edge.services.gateway import AgentClient, agent_socket
from edge.simulate.modbus_server import ModbusSimServer
from edge.store import Store
from edge.store.audit import key_path
from tests.conftest import make_config, pin_on_stdin, wait_for

SALT = b"0123456789abcdef"


def operators() -> list[dict[str, Any]]:
    return [
        {
            "badge": "1001",
            "name": "Anna Operator",
            "role": "operator",
            "pin_hash": hash_pin("1111", salt=SALT),
        },
        {
            "badge": "1005",
            "name": "Eva Supervisor",
            "role": "supervisor",
            "pin_hash": hash_pin("5555", salt=SALT),
        },
    ]


def plc_cfg(tmp_path: Path, port: int) -> LineConfig:
    dev = [
        {
            "name": "plc",
            "protocol": "modbus_tcp",
            "host": "127.0.0.1",
            "port": port,
            "timeout_s": 1,
            "reconnect": {"initial_s": 0.2, "max_s": 1},
        }
    ]
    tags = [
        {"name": "count", "device": "plc", "address": "hr:0", "type": "uint32", "poll_ms": 200},
        {
            "name": "setpoint",
            "device": "plc",
            "address": "hr:10",
            "type": "int16",
            "poll_ms": 200,
            "writable": True,
        },
        {
            "name": "limit",
            "device": "plc",
            "address": "hr:12",
            "type": "uint32",
            "poll_ms": 200,
            "writable": True,
        },
        {
            "name": "label",
            "device": "plc",
            "address": "hr:20",
            "type": "string",
            "length": 4,
            "poll_ms": 200,
            "writable": True,
        },
        {
            "name": "andon",
            "device": "plc",
            "address": "co:0",
            "type": "bool",
            "poll_ms": 200,
            "writable": True,
        },
    ]
    return make_config(dev, tags, tmp_path, operators=operators())


def test_coerce_refuses_values_outside_the_tags_type() -> None:
    """Finding 14: 40000 to an int16 or -1 to a uint32 raised an uncaught ValueError in
    the driver; a string longer than the tag was written and reported ok."""
    cfg = plc_cfg(Path("/nonexistent"), 1)
    sp, lim, lbl = cfg.tag("setpoint"), cfg.tag("limit"), cfg.tag("label")
    assert coerce(sp, "-32768") == -32768 and coerce(lim, "4294967295") == 4294967295
    for tag, value, why in (
        (sp, "40000", "40000 is out of range for int16 (-32768..32767)"),
        (sp, 40000, "out of range for int16"),
        (lim, "-1", "-1 is out of range for uint32 (0..4294967295)"),
        (lbl, "ABCDEFGH", "8 characters do not fit its length of 4"),
        (sp, "2_0", "'2_0' is not a number"),
        (sp, "２０", "is not a number"),
        (sp, "nan", "is not a number"),
        (sp, "1.5", "is not an integer (int16)"),
    ):
        with pytest.raises(ValueError, match=__import__("re").escape(why)):
            coerce(tag, value)
    scaled = sp.model_copy(update={"scale": 0.1})
    assert coerce(scaled, "3000") == 3000.0
    with pytest.raises(ValueError, match=r"4000 \(raw 40000\) is out of range for int16"):
        coerce(scaled, "4000")


async def test_lineside_write_through_the_running_agent(
    tmp_path: Path, port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = plc_cfg(tmp_path, port)
    cfg_file = tmp_path / "line.yaml"
    import yaml

    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source"}, exclude_none=True)))
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()

    async def write(*args: str, badge: str = "1005", pin: str = "5555") -> tuple[int, str]:
        pin_on_stdin(monkeypatch, pin)
        rc = await asyncio.to_thread(main, ["write", "-c", str(cfg_file), *args, "--badge", badge])
        out = capsys.readouterr()
        return rc, out.out + out.err

    try:
        await wait_for(lambda: agent.runners["plc"].state == "connected")
        assert await write("setpoint", "1234", "--reason", "new recipe") == (0, "setpoint = 1234: ok\n")
        assert (await srv.server.async_getValues(1, 3, 10, 1))[0] == 1234
        rc, out = await write("setpoint", "40000")
        assert rc == 3 and "40000 is out of range for int16 (-32768..32767)" in out
        rc, out = await write("limit", "-1")
        assert rc == 3 and "-1 is out of range for uint32" in out
        rc, out = await write("label", "ABCDEFGH")
        assert rc == 3 and "8 characters do not fit its length of 4" in out
        rc, out = await write("count", "5")
        assert rc == 3 and "'count' is not writable" in out
        rc, out = await write("nope", "1")
        assert rc == 3 and "unknown tag 'nope'" in out
        rc, out = await write("andon", "true", badge="1001", pin="1111")
        assert rc == 2 and "refused: Anna Operator's role 'operator' may not write to PLC tags" in out
        rc, out = await write("andon", "true", pin="1111")
        assert rc == 2 and "not recognised" in out
        assert (await srv.server.async_getValues(1, 3, 10, 1))[0] == 1234  # nothing refused reached it
        await srv.stop()
        await wait_for(lambda: agent.runners["plc"].state == "fault")
        rc, out = await write("setpoint", "7")
        assert rc == 1 and "device not connected" in out
    finally:
        await agent.stop()
    rc, out = await write("setpoint", "8")
    assert rc == 1 and "the agent is not running" in out and "nothing was recorded" in out
    writes = [(w["tag"], w["outcome"], w["requested_by"]) for w in agent.store.writes()]
    eva = "Eva Supervisor (1005)"
    assert writes == [
        ("setpoint", "requested", eva),
        ("setpoint", "ok", eva),
        ("setpoint", "refused", eva),
        ("limit", "refused", eva),
        ("label", "refused", eva),
        ("count", "refused", eva),
        ("nope", "refused", eva),
        ("setpoint", "requested", eva),
        ("setpoint", "failed", eva),
    ]
    with Store(cfg.store.path, readonly=True) as st:
        audited = [
            (who, entity, json.loads(new)["outcome"], why)
            for who, entity, new, why in st.db.execute(
                "SELECT who, entity, new, why FROM audit WHERE action = 'plc.write' ORDER BY seq"
            )
        ]
        n, problems = audit_service.verify(cfg, st)
    assert audited[0] == (eva, "setpoint", "ok", "new recipe")
    assert [a[2] for a in audited] == ["ok", "refused", "refused", "refused", "refused", "refused", "failed"]
    assert n > 0 and problems == []


# ----------------------------------------------------------------------------- the key


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory like /var/lib/lineside: 750, the agent's group may enter it."""
    d = Path(tempfile.mkdtemp(prefix="lineside-key-", dir="/tmp"))
    os.chmod(d, 0o750)
    try:
        yield d
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def channel_for(d: Path) -> tuple[LineConfig, OperatorChannel]:
    data = {
        "line": {"enterprise": "acme", "site": "s", "area": "a", "line": "l1"},
        "store": {"path": str(d / "line.db")},
        "products": [{"id": "P1", "ideal_cycle_s": 1.0}],
        "devices": [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}],
        "tags": [{"name": "t", "device": "plc", "address": "hr:0", "type": "uint16"}],
        "operators": operators(),
    }
    from edge.config.line import parse_config

    cfg = parse_config(data)
    old = os.umask(0o027)  # the agent's unit: UMask=0027
    try:
        ch = OperatorChannel(cfg)
        ch.start()
        assert ch.store is not None
        with ch.store.transaction():  # the first entry creates the key
            ch.store.audit(who="line", action="agent.started", entity="l1")
    finally:
        os.umask(old)
    return cfg, ch


def as_terminal_user(fn: Any, *, uid: int = 65534, gid: int | None = None) -> dict[str, Any]:
    """Run ``fn`` in a child process with the terminal's identity (another user, the
    agent's group) and return what it reports."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(os.getegid() if gid is None else gid)
            os.setuid(uid)
            out = fn()
        except BaseException as e:
            out, code = {"crashed": f"{type(e).__name__}: {e}"}, 1
        os.write(w, json.dumps(out).encode())
        os._exit(code)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return dict(json.loads(data))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing to the terminal's user needs root")


@needs_root
def test_the_terminals_user_reads_the_store_but_not_the_key_and_acts_only_through_the_agent(
    shared_dir: Path,
) -> None:
    """As the units run them: the agent's files are 640 (store) and 600 (key), the channel
    660. A process of another user in the agent's group (the terminal) reads the store,
    cannot read the key nor write the store, logs in and starts an order through the
    channel, and the chain verifies with that entry in it."""
    cfg, ch = channel_for(shared_dir)
    try:
        store, key, sock = cfg.store.path, key_path(cfg.store.path), agent_socket(cfg)
        assert stat.S_IMODE(os.stat(store).st_mode) == 0o640
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660

        def terminal() -> dict[str, Any]:
            out: dict[str, Any] = {"uid": os.getuid()}
            with Store(store, readonly=True) as st:
                out["reads"] = st.count("audit")
                try:
                    with st.transaction():
                        st.audit(who="Anna Operator (1001)", action="order.start", entity="WO-X")
                except StoreError as e:
                    out["sign"] = str(e)
            for what, path, mode in (("key", key, "rb"), ("store", store, "r+b")):
                try:
                    with open(path, mode):
                        out[what] = "opened"
                except PermissionError:
                    out[what] = "denied"
            client = AgentClient(sock)
            anna = client.log_in("1001")
            out["who"] = anna.who
            from edge.services import production

            out["seq"] = client.call(production.order_command, "start", "WO-7", product="P1")
            return out

        got = as_terminal_user(terminal)
        assert got == {
            "uid": 65534,
            "reads": 1,
            "sign": f"{store}: opened read-only; only the agent signs audit entries",
            "key": "denied",
            "store": "denied",
            "who": "Anna Operator (1001)",
            "seq": 1,
        }, got
        with Store(store, readonly=True) as st:
            assert st.db.execute("SELECT by FROM order_requests").fetchall() == [("Anna Operator (1001)",)]
            n, problems = audit_service.verify(cfg, st)
        assert n == 3 and problems == []  # agent.started, the login, order.start: all signed by the agent
    finally:
        ch.stop()


@needs_root
def test_a_process_outside_the_agents_group_cannot_use_the_channel(shared_dir: Path) -> None:
    cfg, ch = channel_for(shared_dir)
    try:

        def stranger() -> dict[str, Any]:
            try:
                AgentClient(agent_socket(cfg)).log_in("1001")
            except Exception as e:
                return {"refused": str(e)}
            return {"refused": ""}

        got = as_terminal_user(stranger, gid=65534)
        assert "may not use the agent's operator channel" in got["refused"] or "not running" in got["refused"]
    finally:
        ch.stop()


def test_the_channel_checks_its_peer(tmp_path: Path) -> None:
    """Beyond the socket's mode: a peer that is neither the agent's user, root, nor of
    the agent's group is refused before anything is read (the kernel's word on who it is)."""
    data_cfg = make_config([], [], tmp_path, operators=operators())
    ch = OperatorChannel(data_cfg)
    stranger = Peer(pid=4242, uid=os.geteuid() + 12345, gid=os.getegid() + 12345)
    reply = ch.serve({"v": 1, "op": "login", "entered": "1001"}, stranger)
    assert reply == {
        "ok": False,
        "error": {
            "kind": "refused",
            "message": f"refused: uid {stranger.uid} may not use this line's operator channel",
        },
    }
    assert not Path(data_cfg.store.path).exists()  # nothing was even opened


def test_the_terminal_never_opens_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever runs it: the terminal's own code path (UI thread, snapshot worker) never
    loads the key; only the channel's request threads, in the agent, do."""
    from edge.store import audit as audit_store

    loaders: list[str] = []
    real = audit_store.load_key

    def spy(path: Path, *, create: bool = True) -> bytes:
        loaders.append(threading.current_thread().name)
        return real(path, create=create)

    monkeypatch.setattr(audit_store, "load_key", spy)

    async def drive() -> None:
        from edge.config.line import load_config
        from tests.conftest import example_on_free_ports
        from tests.edge.tui.conftest import make_app, seed, settle
        from tests.edge.tui.test_workflows import fill, login

        cfg = load_config(example_on_free_ports(tmp_path))
        with Store(cfg.store.path) as st:
            seed(st, cfg)
        ch = OperatorChannel(cfg)
        ch.start()
        try:
            app = make_app(cfg)
            async with app.run_test(size=(100, 32)) as pilot:
                await login(pilot, "1001")
                await pilot.press("f3", "s")
                await pilot.pause()
                await fill(pilot, "order", "WO-2")
                from textual.widgets import Select

                app.screen.query_one("#f-switch", Select).value = "yes"  # WO-1 runs: confirm
                await pilot.press("ctrl+s")
                await settle(pilot)
                assert "order WO-2 start queued" in app.last_message
                assert app._reader_store is not None and app._reader_store.readonly
                assert not hasattr(app._reader_store, "_audit_key")
        finally:
            ch.stop()

    asyncio.run(drive())
    assert loaders and all("process_request_thread" in name for name in loaders), loaders


def test_a_socket_deeper_than_a_unix_address_allows_still_works(tmp_path: Path) -> None:
    """A Unix socket address holds 107 bytes; a deeper path is reached through a
    descriptor of its directory (/proc/self/fd/N/NAME), for the agent and its clients."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    cfg = make_config([], [], deep, operators=operators())
    ch = OperatorChannel(cfg)
    ch.start()
    try:
        assert len(os.fsencode(ch.path)) > 107 and ch.path.is_socket()
        assert AgentClient(ch.path).log_in("1001").name == "Anna Operator"
        with pytest.raises(Exception, match="another agent serves this line's operator channel"):
            OperatorChannel(cfg).start()
    finally:
        ch.stop()
    assert not ch.path.exists()
