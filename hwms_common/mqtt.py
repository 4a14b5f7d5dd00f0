"""The one builder of hwms's MQTT clients (edge publisher, ledger ingest, cabinet door and
lock I/O, demo watcher): protocol, credentials, TLS and reconnect pacing come from one
`MqttConnection`, so a broker that requires TLS or a password gets it from every client."""

from __future__ import annotations

import ssl

from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hwms_common.config import MqttConnection


def mqtt_client(
    conn: MqttConnection, client_id: str = "", *, persistent: bool = False, manual_ack: bool = False
) -> Client:
    """A paho client (callback API 2) set up for `conn`, not yet connected.

    `persistent`: the broker keeps the session and QoS 1 messages while the client is away
    (MQTT 3.1.1 clean_session=False; for v5 see `connect`); it needs a stable client id.
    """
    v5 = conn.protocol == "v5"
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else not persistent,
        manual_ack=manual_ack,
    )
    if conn.username:
        client.username_pw_set(conn.username, conn.password())
    if conn.tls is not None:
        client.tls_set(
            ca_certs=str(conn.tls.ca_file),
            certfile=str(conn.tls.cert_file) if conn.tls.cert_file else None,
            keyfile=str(conn.tls.key_file) if conn.tls.key_file else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.reconnect_delay_set(
        min_delay=int(max(1, conn.reconnect_min_s)), max_delay=int(conn.reconnect_max_s)
    )
    return client


def connect(client: Client, conn: MqttConnection, *, session_expiry_s: int = 0) -> None:
    """Connect in the background (`loop_start` is the caller's). With `session_expiry_s`
    an MQTT 5 session survives that long without the client (clean_start=False)."""
    if conn.protocol == "v5" and session_expiry_s:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry_s
        client.connect_async(
            conn.host, conn.port, keepalive=conn.keepalive_s, clean_start=False, properties=props
        )
    else:
        client.connect_async(conn.host, conn.port, keepalive=conn.keepalive_s)
