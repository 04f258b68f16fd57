"""The generated ACL on a real mosquitto with real passwords: a line's credentials
cannot publish into another line's topics, nor read its commands; the aggregator can
do its job."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sync.aggregator.acl import AclCollision, line_user, render_acl
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


def test_a_line_is_confined_to_its_own_subtree(tmp_path: Path) -> None:
    cfg = AggregatorConfig.model_validate({"lines": LINES})
    acl = tmp_path / "acl"
    acl.write_text(render_acl(cfg))
    pw = tmp_path / "passwd"
    users = {
        "lineside-aggregator": "agg-secret",
        line_user(cfg.lines[0].key): "l1-secret",
        line_user(cfg.lines[1].key): "l2-secret",
        "lineside-consumer": "ro-secret",
    }
    for i, (u, p) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(pw), u, p], check=True)
    pw.chmod(0o600)
    acl.chmod(0o600)
    b = Mosquitto(
        tmp_path / "broker",
        extra=f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}\n" + SHIPPED_IDENTITY,
    )
    b.start()
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
        # Plant IT at the default places: its own unified namespace and Sparkplug node only.
        uns = l1.publish("uns/v1/acme/hamburg/filling/line1/plc/plc.temp", b"{}", qos=1)
        spb = l1.publish("spBv1.0/acme-hamburg-filling/DDATA/line1/plc", b"", qos=1)
        forged_uns = l1.publish("uns/v1/acme/hamburg/filling/line2/plc/plc.temp", b"{}", qos=1)
        forged_spb = l1.publish("spBv1.0/acme-hamburg-filling/NBIRTH/line2", b"", qos=1)
        agg.publish(f"{L1}/cmd/work_order", b"for line1", qos=1)
        agg.publish(f"{L2}/cmd/work_order", b"for line2", qos=1)
        time.sleep(1.0)
        assert (f"{L1}/samples", b"mine") in agg_got
        assert ("uns/v1/acme/hamburg/filling/line1/plc/plc.temp", b"{}") in ro_got
        assert ("spBv1.0/acme-hamburg-filling/DDATA/line1/plc", b"") in ro_got
        assert not any("/cmd/" in t for t, _ in ro_got) and ro_acks[ro_write.mid] == 135
        assert all(p != b"forged" for _, p in agg_got), agg_got
        assert l1_acks[ok.mid] == 0
        # Accepted: 0, or 16 "no matching subscribers" (nobody listens there in this test).
        assert l1_acks[uns.mid] in (0, 16) and l1_acks[spb.mid] in (0, 16)
        assert (l1_acks[forged_uns.mid], l1_acks[forged_spb.mid]) == (135, 135)
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
        for c in (agg, l1, ro):
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
    both = AggregatorConfig.model_validate({"lines": [a.model_dump(), b.model_dump()]})
    with pytest.raises(AclCollision, match="Sparkplug node"):  # their default Sparkplug groups do collide
        render_acl(both)
