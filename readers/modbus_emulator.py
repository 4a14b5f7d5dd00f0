"""Fridges on Modbus: a pymodbus server (TCP, RTU over TCP, or RTU on a pty) from a scenario.

Each fridge is a device id with a sensor profile; its temperature follows a behaviour over
the emulator's own clock (seconds since start, optionally sped up):

- `normal`: 5 °C with a slow ±0.3 °C compressor cycle;
- `door_open`: from `at_s`, warms towards room temperature (slow exponential);
- `compressor_failure`: from `at_s`, climbs 0.5 °C a minute;
- `freeze`: from `at_s`, drops to -2 °C;
- `probe_fault`: from `at_s`, answers Modbus exception 4 (device failure);
- `silent`: from `at_s`, does not answer at all.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from readers.modbus_profiles import PROFILES, Channel, SensorProfile, encode

Behaviour = Literal["normal", "door_open", "compressor_failure", "freeze", "probe_fault", "silent"]


@dataclass(slots=True, kw_only=True)
class Fridge:
    device_id: int
    profile: SensorProfile = field(default_factory=lambda: PROFILES["xy-md02"])
    behaviour: Behaviour = "normal"
    at_s: float = 0.0
    base_c: float = 5.0

    def temperature(self, t_s: float) -> float:
        normal = self.base_c + 0.3 * math.sin(2 * math.pi * t_s / 600.0)
        since = t_s - self.at_s
        if since < 0 or self.behaviour in ("normal", "probe_fault", "silent"):
            return round(normal, 1)
        if self.behaviour == "door_open":
            return round(normal + (21.0 - normal) * (1 - math.exp(-since / 1800.0)), 1)
        if self.behaviour == "compressor_failure":
            return round(normal + 0.5 * since / 60.0, 1)
        return round(max(-2.0, normal - 0.2 * since / 60.0), 1)

    def failing(self, t_s: float, kind: Behaviour) -> bool:
        return self.behaviour == kind and t_s >= self.at_s


def fridges_from_scenario(data: dict[str, Any]) -> list[Fridge]:
    """From `{"fridges": [{"device_id": 1, "profile": "xy-md02", "behaviour": "door_open",
    "at_s": 60}]}`."""
    out = []
    for f in data.get("fridges", []):
        out.append(
            Fridge(
                device_id=int(f["device_id"]),
                profile=PROFILES[f.get("profile", "xy-md02")],
                behaviour=f.get("behaviour", "normal"),
                at_s=float(f.get("at_s", 0.0)),
                base_c=float(f.get("base_c", 5.0)),
            )
        )
    return out


class ModbusEmulator:
    """Runs the server in its own thread and event loop; `start()` returns once it listens."""

    def __init__(
        self,
        fridges: list[Fridge],
        *,
        transport: Literal["tcp", "rtu-tcp", "rtu"] = "tcp",
        port: int = 0,
        serial_port: str = "",
        speed: float = 1.0,
        start_at: float | None = None,
    ) -> None:
        self.fridges = {f.device_id: f for f in fridges}
        self.transport = transport
        self.port = port
        self.serial_port = serial_port
        self.speed = speed
        # emulator time 0 now, or at the wall time `start_at` (several emulators, one script)
        self._t0 = time.monotonic() + (0.0 if start_at is None else start_at - time.time())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="modbus-emu"
        )
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self.requests_total = 0

    def now_s(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    @property
    def url(self) -> str:
        if self.transport == "rtu":
            return f"rtu://{self.serial_port}?baudrate=9600"
        return f"{self.transport}://127.0.0.1:{self.port}"

    def start(self) -> ModbusEmulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def close(self) -> None:
        if self._server is not None:
            stop = self._server.shutdown()  # type: ignore[no-untyped-call]
            asyncio.run_coroutine_threadsafe(stop, self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    # --- server ---------------------------------------------------------------------

    def _device(self, fridge: Fridge) -> SimDevice:
        blocks = [
            SimData(c.address, count=c.count, values=[0] * c.count, datatype=DataType.REGISTERS)
            for c in fridge.profile.channels
        ]

        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            self.requests_total += 1
            t = self.now_s()
            if fridge.failing(t, "probe_fault"):
                return ExcCodes.DEVICE_FAILURE
            for c in fridge.profile.channels:
                self._write(c, fridge, t, start_address, registers)
            return None

        return SimDevice(fridge.device_id, simdata=blocks, action=action)

    @staticmethod
    def _write(c: Channel, fridge: Fridge, t: float, start: int, registers: list[int]) -> None:
        if c.kind == "temperature":
            value = fridge.temperature(t)
        elif c.kind == "humidity":
            value = 55.0
        else:
            value = 1.0 if fridge.failing(t, "door_open") else 0.0
        regs = encode(c, value)
        for i, r in enumerate(regs):
            pos = c.address + i - start
            if 0 <= pos < len(registers):
                registers[pos] = r

    def _mute(self, sending: bool, data: bytes) -> bytes:
        """Drop replies of devices that are 'silent' (the bus sees no answer)."""
        if not sending or not data:
            return data
        unit = data[6] if self.transport == "tcp" and len(data) > 6 else data[0]
        fridge = self.fridges.get(unit)
        if fridge is not None and fridge.failing(self.now_s(), "silent"):
            return b""
        return data

    async def _start(self) -> None:
        devices = [self._device(f) for f in self.fridges.values()]
        if self.transport == "rtu":
            self._server = ModbusSerialServer(
                devices, port=self.serial_port, baudrate=9600, trace_packet=self._mute
            )
        else:
            framer = FramerType.SOCKET if self.transport == "tcp" else FramerType.RTU
            self._server = ModbusTcpServer(
                devices, address=("127.0.0.1", self.port), framer=framer, trace_packet=self._mute
            )
        await self._server.serve_forever(background=True)
        if self.transport != "rtu" and self.port == 0:
            transport = getattr(self._server, "transport", None)
            sockets = getattr(transport, "sockets", None) if transport is not None else None
            if sockets:
                self.port = sockets[0].getsockname()[1]
