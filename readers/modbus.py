"""Modbus temperature sensors: one poller per bus (RS-485 line or TCP gateway).

A bus is polled one request at a time (RS-485 allows nothing else). Every channel of every
sensor yields a `ChannelReading` each poll: a value, or a classified fault. One sensor's
failure never stops the others; the poller never raises. Readings keep the time the request
was sent, not the time the answer was processed.

Bus URLs: `tcp://HOST:PORT` (Modbus TCP), `rtu-tcp://HOST:PORT` (RTU frames through a
transparent serial server), `rtu:///dev/ttyUSB0?baudrate=9600&parity=N` (RS-485).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import structlog
from pymodbus import FramerType, ModbusException
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException

from readers.modbus_profiles import Channel, ChannelKind, DecodeError, SensorProfile, decode
from rules.observations import TemperatureSample

log = structlog.get_logger(__name__)

# Modbus exception codes -> what they mean for a sensor
EXCEPTION_KINDS = {
    1: "illegal_function",
    2: "illegal_address",
    3: "illegal_value",
    4: "device_failure",
    5: "busy",
    6: "busy",
    10: "gateway_path",
    11: "sensor_offline",  # the TCP->RTU gateway got no answer from the RS-485 device
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusSensor:
    sensor: str
    device_id: int
    profile: SensorProfile
    channels: tuple[str, ...] = ()  # () = every channel of the profile


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelReading:
    sensor: str
    channel: str
    kind: ChannelKind
    t_us: int
    value: float | None
    fault: str = ""  # error kind, e.g. "timeout", "device_failure", "probe_fault"
    detail: str = ""

    def to_temperature_sample(self) -> TemperatureSample:
        fault = f"{self.fault}: {self.detail}" if self.fault else ""
        return TemperatureSample(
            sensor=self.sensor, t_us=self.t_us, value_c=self.value, fault=fault
        )


def make_client(
    url: str, *, timeout_s: float, retries: int
) -> ModbusTcpClient | ModbusSerialClient:
    parts = urlsplit(url)
    if parts.scheme in ("tcp", "rtu-tcp"):
        framer = FramerType.SOCKET if parts.scheme == "tcp" else FramerType.RTU
        return ModbusTcpClient(
            parts.hostname or "127.0.0.1",
            port=parts.port or 502,
            framer=framer,
            timeout=timeout_s,
            retries=retries,
            reconnect_delay=0,
        )
    if parts.scheme == "rtu":
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return ModbusSerialClient(
            parts.path,
            baudrate=int(q.get("baudrate", "9600")),
            parity=q.get("parity", "N"),
            stopbits=int(q.get("stopbits", "1")),
            timeout=timeout_s,
            retries=retries,
            reconnect_delay=0,
        )
    raise ValueError(f"unsupported Modbus bus URL {url!r} (tcp://, rtu-tcp://, rtu://)")


@dataclass(slots=True)
class ModbusPoller:
    name: str
    url: str
    sensors: tuple[ModbusSensor, ...]
    timeout_s: float = 0.5
    retries: int = 1
    clock_us: Callable[[], int] = field(default=lambda: time.time_ns() // 1000)
    errors_total: Counter[tuple[str, str]] = field(default_factory=Counter)
    _client: ModbusTcpClient | ModbusSerialClient | None = None

    def run(
        self, sink: Callable[[ChannelReading], None], interval_s: float, stop: threading.Event
    ) -> None:
        """The bus's poll loop: one poll every `interval_s` on a fixed schedule (a slow poll
        delays the next one, polls never overlap) until `stop` is set."""
        next_at = time.monotonic()
        while not stop.is_set():
            for reading in self.poll():
                sink(reading)
            next_at = max(next_at + interval_s, time.monotonic())
            stop.wait(max(0.0, next_at - time.monotonic()))
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client = None

    def poll(self) -> list[ChannelReading]:
        out: list[ChannelReading] = []
        connected = self._connect()
        for s in self.sensors:
            names = s.channels or tuple(c.name for c in s.profile.channels)
            silent = False
            for name in names:
                channel = s.profile.channel(name)
                t = self.clock_us()
                if not connected:
                    out.append(
                        self._fault(s, channel, t, "connection", f"cannot connect to {self.url}")
                    )
                elif silent:  # do not spend another timeout of bus time on a silent device
                    out.append(
                        self._fault(s, channel, t, "timeout", "device did not answer this poll")
                    )
                else:
                    reading = self._read(s, channel, t)
                    silent = reading.fault == "timeout"
                    out.append(reading)
        return out

    def _connect(self) -> bool:
        if self._client is None:
            self._client = make_client(self.url, timeout_s=self.timeout_s, retries=self.retries)
        if self._client.connected:
            return True
        try:
            ok = bool(self._client.connect())
        except (ModbusException, OSError) as exc:
            log.warning("modbus connect failed", bus=self.name, error=str(exc))
            ok = False
        if not ok:
            self.close()
        return ok

    def _read(self, s: ModbusSensor, channel: Channel, t: int) -> ChannelReading:
        client = self._client
        assert client is not None
        read = (
            client.read_input_registers if channel.function == 4 else client.read_holding_registers
        )
        try:
            rr = read(channel.address, count=channel.count, device_id=s.device_id)
        except ConnectionException as exc:
            self.close()
            return self._fault(s, channel, t, "connection", str(exc))
        except ModbusIOException as exc:
            return self._fault(s, channel, t, "timeout", str(exc))
        except ModbusException as exc:
            return self._fault(s, channel, t, "protocol", str(exc))
        if rr.isError():
            code = getattr(rr, "exception_code", 0)
            return self._fault(
                s, channel, t, EXCEPTION_KINDS.get(code, "exception"), f"exception code {code}"
            )
        try:
            value = decode(channel, list(rr.registers))
        except DecodeError as exc:
            return self._fault(s, channel, t, "probe_fault", str(exc))
        return ChannelReading(
            sensor=s.sensor, channel=channel.name, kind=channel.kind, t_us=t, value=value
        )

    def _fault(
        self, s: ModbusSensor, channel: Channel, t: int, kind: str, detail: str
    ) -> ChannelReading:
        self.errors_total[(s.sensor, kind)] += 1
        log.warning(
            "modbus read failed",
            bus=self.name,
            sensor=s.sensor,
            channel=channel.name,
            kind=kind,
            detail=detail,
        )
        return ChannelReading(
            sensor=s.sensor,
            channel=channel.name,
            kind=channel.kind,
            t_us=t,
            value=None,
            fault=kind,
            detail=detail,
        )
