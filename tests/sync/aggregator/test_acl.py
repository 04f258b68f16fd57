"""The generated ACL on a real mosquitto with real passwords: a line's credentials
cannot publish into another line's topics, nor read its commands; its unified namespace
and Sparkplug B users write only that line's namespace and that edge node's messages;
the aggregator can do its job."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sync.aggregator.acl import AclCollision, line_user, render_acl, spb_user, uns_user
from sync.aggregator.config import AggregatorConfig
from tests.conftest import REPO
from tests.mqtt_rig import Mosquitto

LINES = [
    {"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line1"},
    {"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line2"},
]
L1 = "lineside/v1/acme/hamburg/filling/line1"
L2 = "lineside/v1/acme/hamburg/filling/line2"


#: The client-identity and size lines of the shipped plant broker config.
SHIPPED_IDENTITY = "".join(
    ln + "\n"
    for ln in (REPO / "config" / "mosquitto" / "mosquitto.conf").read_text().splitlines()
    if ln.startswith(("use_username_as_clientid", "message_size_limit"))
)


def client(
    port: int, user: str, password: str, client_id: str | None = None
) -> tuple[mqtt.Client, list[tuple[str, bytes]], dict[int, int]]:
    got: list[tuple[str, bytes]] = []
    acks: dict[int, int] = {}
    connected = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or user + "-t", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.on_connect = lambda *a: connected.set()
    c.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    c.on_publish = lambda _c, _u, mid, rc, _p: acks.__setitem__(mid, int(rc.value))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert connected.wait(5)
    return c, got, acks


def plant_broker(tmp_path: Path, users: dict[str, str], acl_text: str) -> Mosquitto:
    """A started mosquitto with these users (name: password), this ACL and the shipped
    broker config's client-identity lines."""
    acl = tmp_path / "acl"
    acl.write_text(acl_text)
    pw = tmp_path / "passwd"
    for i, (u, p) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(pw), u, p], check=True)
    pw.chmod(0o600)
    acl.chmod(0o600)
    b = Mosquitto(
        tmp_path / "broker",
        extra=f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}\n" + SHIPPED_IDENTITY,
    )
    b.start()
    return b


def subscribed(c: mqtt.Client, subs: list[tuple[str, int]]) -> None:
    """Subscribe and wait for the SUBACK (granted or not)."""
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(subs)
    assert done.wait(10), "no SUBACK"


def eventually(pred: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        time.sleep(0.05)
    return bool(pred())


def test_a_line_is_confined_to_its_own_subtree(tmp_path: Path) -> None:
    cfg = AggregatorConfig.model_validate({"lines": LINES})
    users = {
        "lineside-aggregator": "agg-secret",
        line_user(cfg.lines[0].key): "l1-secret",
        line_user(cfg.lines[1].key): "l2-secret",
        "lineside-consumer": "ro-secret",
        uns_user(cfg.lines[0].key): "uns1-secret",
        spb_user(cfg.lines[0].key): "spb1-secret",
    }
    b = plant_broker(tmp_path, users, render_acl(cfg))
    try:
        agg, agg_got, _agg_acks = client(
            b.port, "lineside-aggregator", "agg-secret", client_id="lineside-aggregator"
        )
        agg.subscribe(
            [("$share/lineside-aggregator/lineside/v1/+/+/+/+/+", 1), ("lineside/v1/+/+/+/+/state/+", 1)]
        )
        l1, l1_got, l1_acks = client(b.port, line_user(cfg.lines[0].key), "l1-secret")
        l1.subscribe([(f"{L1}/cmd/+", 1), (f"{L2}/cmd/+", 1)])
        # The read-only consumer reads the namespace and Sparkplug, never commands.
        ro, ro_got, ro_acks = client(b.port, "lineside-consumer", "ro-secret")
        ro.subscribe([("uns/v1/#", 1), ("spBv1.0/#", 1), ("lineside/v1/+/+/+/+/cmd/+", 1)])
        time.sleep(0.5)
        ro_write = ro.publish("uns/v1/acme/hamburg/filling/line1/plc/plc.temp", b"ro", qos=1)
        ok = l1.publish(f"{L1}/samples", b"mine", qos=1)
        forged = l1.publish(f"{L2}/samples", b"forged", qos=1)
        forged_state = l1.publish(f"{L2}/state/status", b"forged", qos=1)
        forged_ack = l1.publish(f"{L1}/ack/samples", b"self-ack", qos=1)  # a line may not ack itself
        forged_cmd = l1.publish(f"{L1}/cmd/work_order", b"forged-cmd", qos=1)  # nor command itself
        # Plant IT is not the uplink's: the namespace and the Sparkplug node have users of their own.
        uns_by_uplink = l1.publish("uns/v1/acme/hamburg/filling/line1/plc/plc.temp", b"{}", qos=1)
        spb_by_uplink = l1.publish("spBv1.0/acme-hamburg-filling/DDATA/line1/plc", b"", qos=1)
        uns_c, _, _ = client(b.port, uns_user(cfg.lines[0].key), "uns1-secret")
        spb_c, _, _ = client(b.port, spb_user(cfg.lines[0].key), "spb1-secret")
        uns_c.publish("uns/v1/acme/hamburg/filling/line1/plc/plc.temp", b"{}", qos=1).wait_for_publish(5)
        spb_c.publish("spBv1.0/acme-hamburg-filling/DDATA/line1/plc", b"", qos=1).wait_for_publish(5)
        agg.publish(f"{L1}/cmd/work_order", b"for line1", qos=1)
        agg.publish(f"{L2}/cmd/work_order", b"for line2", qos=1)
        time.sleep(1.0)
        assert (f"{L1}/samples", b"mine") in agg_got
        assert ("uns/v1/acme/hamburg/filling/line1/plc/plc.temp", b"{}") in ro_got
        assert ("spBv1.0/acme-hamburg-filling/DDATA/line1/plc", b"") in ro_got
        assert not any("/cmd/" in t for t, _ in ro_got) and ro_acks[ro_write.mid] == 135
        assert all(p != b"forged" for _, p in agg_got), agg_got
        assert l1_acks[ok.mid] == 0
        assert (l1_acks[uns_by_uplink.mid], l1_acks[spb_by_uplink.mid]) == (135, 135)
        # MQTT 5: the broker answers a refused QoS 1 publish with "not authorized" (135).
        assert (
            l1_acks[forged.mid] == 135 and l1_acks[forged_state.mid] == 135 and l1_acks[forged_ack.mid] == 135
        )
        assert l1_acks[forged_cmd.mid] == 135 and all(p != b"forged-cmd" for _, p in l1_got)
        # Finding 7: a line's credentials connecting under the aggregator's client id took
        # its session over (kicked it off, every second). The broker now makes a client's
        # id its user name: the aggregator stays connected and keeps receiving.
        dropped = threading.Event()
        agg.on_disconnect = lambda *a: dropped.set()
        rogue, _, _ = client(
            b.port, line_user(cfg.lines[0].key), "l1-secret", client_id="lineside-aggregator"
        )
        probe = rogue.publish(f"{L1}/events", b"after-rogue", qos=1)
        probe.wait_for_publish(5)
        wait_until = time.monotonic() + 5
        while (f"{L1}/events", b"after-rogue") not in agg_got and time.monotonic() < wait_until:
            time.sleep(0.05)
        assert (f"{L1}/events", b"after-rogue") in agg_got and not dropped.is_set() and probe.rc == 0
        rogue.disconnect()
        rogue.loop_stop()
        assert (f"{L1}/cmd/work_order", b"for line1") in l1_got
        assert all(p != b"for line2" for _, p in l1_got), "line1 cannot read line2's commands"
        # Wrong password: refused.
        bad = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="x", protocol=mqtt.MQTTv5)
        bad.username_pw_set(line_user(cfg.lines[0].key), "wrong")
        codes: list[int] = []
        bad.on_connect = lambda _c, _u, _f, rc, _p: codes.append(int(rc.value))
        bad.connect("127.0.0.1", b.port)
        bad.loop_start()
        time.sleep(1.0)
        bad.loop_stop()
        assert codes and codes[0] == 135
        for c in (agg, l1, ro, uns_c, spb_c):
            c.disconnect()
            c.loop_stop()
    finally:
        b.stop()


U1 = "uns/v1/acme/hamburg/filling/line1"
SPB = "spBv1.0/acme-hamburg-filling"


def test_a_lines_namespace_and_sparkplug_users_write_only_their_own_topics(tmp_path: Path) -> None:
    """The unified namespace user of line1 writes line1's UNS and UMH topics and nothing
    else (not line2's, not the batch streams, not Sparkplug); the Sparkplug user of line1
    writes line1's node and device messages only (not the UNS, not another node), and
    reads its own NCMD and DCMD and the host's STATE, never another node's commands.
    The Sparkplug host (Ignition) is a user the plant adds by hand, as here."""
    cfg = AggregatorConfig.model_validate({"lines": LINES})
    k1, k2 = cfg.lines[0].key, cfg.lines[1].key
    users = {
        "lineside-aggregator": "agg-secret",
        "lineside-consumer": "ro-secret",
        uns_user(k1): "uns1",
        uns_user(k2): "uns2",
        spb_user(k1): "spb1",
        "scada": "host-secret",
    }
    host_acl = "\nuser scada\ntopic readwrite spBv1.0/#\ntopic readwrite STATE/#\n"
    b = plant_broker(tmp_path, users, render_acl(cfg) + host_acl)
    try:
        agg, agg_got, _ = client(b.port, "lineside-aggregator", "agg-secret", client_id="lineside-aggregator")
        subscribed(agg, [("lineside/v1/+/+/+/+/+", 1), ("lineside/v1/+/+/+/+/state/+", 1)])
        ro, ro_got, _ = client(b.port, "lineside-consumer", "ro-secret")
        subscribed(ro, [("uns/v1/#", 1), ("umh/v1/#", 1), ("spBv1.0/#", 1)])
        host, _, host_acks = client(b.port, "scada", "host-secret")
        host.publish(
            "spBv1.0/STATE/scada", b'{"online": true, "timestamp": 1}', qos=1, retain=True
        ).wait_for_publish(5)

        uns, _, uns_acks = client(b.port, uns_user(k1), "uns1")
        own = [
            uns.publish(f"{U1}/filler/filler.temperature", b"{}", qos=1, retain=True),
            uns.publish(f"{U1}/_state", b"{}", qos=1, retain=True),
            uns.publish(
                "umh/v1/acme/hamburg/filling/line1/filler/_historian/filler_temperature", b"{}", qos=1
            ),
        ]
        refused = [
            uns.publish("uns/v1/acme/hamburg/filling/line2/filler/filler.temperature", b"forged", qos=1),
            uns.publish("umh/v1/acme/hamburg/filling/line2/filler/_historian/x", b"forged", qos=1),
            uns.publish(f"{L1}/samples", b"forged", qos=1),  # the batch streams
            uns.publish(f"{L1}/state/status", b"forged", qos=1),
            uns.publish(f"{L1}/cmd-ack", b"forged", qos=1),
            uns.publish(f"{SPB}/NBIRTH/line1", b"forged", qos=1),
        ]

        spb, spb_got, spb_acks = client(b.port, spb_user(k1), "spb1")
        subscribed(
            spb,
            [
                (f"{SPB}/NCMD/line1", 0),
                (f"{SPB}/DCMD/line1/+", 0),
                ("spBv1.0/STATE/+", 1),
                (f"{SPB}/NCMD/line2", 0),  # not its own: refused
                (f"{SPB}/DCMD/line2/+", 0),
            ],
        )
        spb_own = [
            spb.publish(f"{SPB}/{kind}/line1", b"", qos=1) for kind in ("NBIRTH", "NDATA", "NDEATH")
        ] + [spb.publish(f"{SPB}/{kind}/line1/filler", b"", qos=1) for kind in ("DBIRTH", "DDATA", "DDEATH")]
        spb_refused = [
            spb.publish(f"{SPB}/NBIRTH/line2", b"forged", qos=1),  # another node
            spb.publish(f"{SPB}/DDATA/line2/filler", b"forged", qos=1),
            spb.publish(f"{SPB}/NCMD/line1", b"forged", qos=1),  # commanding itself
            spb.publish("spBv1.0/STATE/scada", b"forged", qos=1),  # posing as the host
            spb.publish(f"{U1}/filler/filler.temperature", b"forged", qos=1),  # the UNS
            spb.publish(f"{L1}/samples", b"forged", qos=1),
        ]
        host_cmds = [
            host.publish(f"{SPB}/NCMD/line1", b"rebirth-1", qos=1),
            host.publish(f"{SPB}/DCMD/line1/filler", b"write-1", qos=1),
            host.publish(f"{SPB}/NCMD/line2", b"rebirth-2", qos=1),
            host.publish(f"{SPB}/DCMD/line2/filler", b"write-2", qos=1),
        ]
        for info in own + refused + spb_own + spb_refused + host_cmds:
            info.wait_for_publish(10)
        assert eventually(lambda: len(spb_got) >= 3 and (f"{SPB}/NBIRTH/line1", b"") in ro_got)
        time.sleep(0.5)  # anything that should not come would have come by now
        # Accepted: 0, or 16 "no matching subscribers".
        assert all(uns_acks[i.mid] in (0, 16) for i in own), uns_acks
        assert [uns_acks[i.mid] for i in refused] == [135] * len(refused)
        assert all(spb_acks[i.mid] in (0, 16) for i in spb_own), spb_acks
        assert [spb_acks[i.mid] for i in spb_refused] == [135] * len(spb_refused)
        assert all(host_acks[i.mid] in (0, 16) for i in host_cmds)
        assert all(p != b"forged" for _, p in agg_got + ro_got), (agg_got, ro_got)
        assert (f"{U1}/filler/filler.temperature", b"{}") in ro_got
        assert (f"{SPB}/NBIRTH/line1", b"") in ro_got
        # The node reads its own commands and the host's STATE, not line2's commands.
        got = {t: p for t, p in spb_got}
        assert (
            got.get(f"{SPB}/NCMD/line1") == b"rebirth-1" and got.get(f"{SPB}/DCMD/line1/filler") == b"write-1"
        )
        assert "spBv1.0/STATE/scada" in got
        assert not any("line2" in t for t in got), got
        # The Sparkplug node's last will (NDEATH) is its own topic: accepted at connect. (The
        # broker makes the user the client id: the node's first connection goes first.)
        spb.disconnect()
        spb.loop_stop()
        will = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="w", protocol=mqtt.MQTTv311)
        will.username_pw_set(spb_user(k1), "spb1")
        will.will_set(f"{SPB}/NDEATH/line1", b"death", qos=1)
        rc: list[int] = []
        will.on_connect = lambda _c, _u, _f, code, _p: rc.append(int(code.value))
        will.connect("127.0.0.1", b.port)
        will.loop_start()
        assert eventually(lambda: rc == [0]), rc
        will.loop_stop()
        will.socket().close()  # gone without DISCONNECT: the broker publishes the will
        assert eventually(lambda: (f"{SPB}/NDEATH/line1", b"death") in ro_got)
        for c in (agg, ro, host, uns):
            c.disconnect()
            c.loop_stop()
    finally:
        b.stop()


def test_line_users_are_injective() -> None:
    """Finding 7: ``"line-" + key.replace("/", "-")`` gave two lines one user."""
    a = AggregatorConfig.model_validate(
        {"lines": [{"enterprise": "a-b", "site": "c", "area": "d", "line": "e"}]}
    ).lines[0]
    b = AggregatorConfig.model_validate(
        {"lines": [{"enterprise": "a", "site": "b-c", "area": "d", "line": "e"}]}
    ).lines[0]
    assert line_user(a.key) != line_user(b.key)
    assert uns_user(a.key) != uns_user(b.key) and spb_user(a.key) != spb_user(b.key)
    # No user of one kind is one of another kind, nor the aggregator's or the consumer's.
    users = {u for key in (a.key, b.key) for u in (line_user(key), uns_user(key), spb_user(key))}
    assert len(users) == 6 and not users & {"lineside-aggregator", "lineside-consumer"}
    one = AggregatorConfig.model_validate({"lines": [a.model_dump()]})
    with pytest.raises(AclCollision, match=r"would share the broker user uns-a-b\.c\.d\.e"):
        render_acl(one, aggregator_user="uns-a-b.c.d.e")
    with pytest.raises(AclCollision, match="aggregator and the consumer"):
        render_acl(one, aggregator_user="x", consumer_user="x")
    both = AggregatorConfig.model_validate({"lines": [a.model_dump(), b.model_dump()]})
    with pytest.raises(AclCollision, match="Sparkplug node"):  # their default Sparkplug groups do collide
        render_acl(both)
