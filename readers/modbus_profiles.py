"""Modbus sensor profiles as data, and the pure decoding of registers into values.

A profile names its channels; each channel says where the value lives (function code
03/04, register address, 0-based as on the wire), how it is encoded (int16, uint16, int32,
uint32, float32 with word order, scale, offset, a vendor negative encoding) and which raw
values mean "probe fault". Add a device by adding a `SensorProfile` to `PROFILES` (or in
the edge configuration): no code.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final, Literal

DataType = Literal["int16", "uint16", "int32", "uint32", "float32"]
ChannelKind = Literal["temperature", "humidity", "door"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    name: str
    kind: ChannelKind = "temperature"
    function: Literal[3, 4] = 4
    address: int = 0
    data_type: DataType = "int16"
    word_order: Literal["big", "little"] = "big"
    scale: float = 0.1
    offset: float = 0.0
    # "offset10000": the device writes a negative value v as 10000 + |v| / scale (Kincony)
    negative: Literal["twos_complement", "offset10000"] = "twos_complement"
    fault_raw: tuple[int, ...] = ()  # raw register values that mean "probe fault"

    @property
    def count(self) -> int:
        return 1 if self.data_type in ("int16", "uint16") else 2


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorProfile:
    name: str
    channels: tuple[Channel, ...]
    description: str = ""

    def channel(self, name: str) -> Channel:
        for c in self.channels:
            if c.name == name:
                return c
        raise KeyError(f"profile {self.name!r} has no channel {name!r}")


class DecodeError(ValueError):
    """Registers that do not hold a usable value (sentinel, NaN, wrong length)."""


def decode(channel: Channel, registers: list[int]) -> float:
    """Registers as read from the device -> engineering value, or DecodeError."""
    if len(registers) != channel.count:
        raise DecodeError(
            f"{channel.name}: expected {channel.count} registers, got {len(registers)}"
        )
    if any(not 0 <= r <= 0xFFFF for r in registers):
        raise DecodeError(f"{channel.name}: register value out of range")
    if channel.fault_raw and registers[0] in channel.fault_raw:
        raise DecodeError(f"{channel.name}: probe fault (raw 0x{registers[0]:04X})")
    regs = registers if channel.word_order == "big" else list(reversed(registers))
    raw = b"".join(r.to_bytes(2, "big") for r in regs)
    dt = channel.data_type
    value: float
    if dt == "int16":
        if channel.negative == "offset10000":
            u = registers[0]
            value = -(u - 10000) if u >= 10000 else u
        else:
            value = struct.unpack(">h", raw)[0]
    elif dt == "uint16":
        value = struct.unpack(">H", raw)[0]
    elif dt == "int32":
        value = struct.unpack(">i", raw)[0]
    elif dt == "uint32":
        value = struct.unpack(">I", raw)[0]
    else:
        value = struct.unpack(">f", raw)[0]
        if math.isnan(value) or math.isinf(value):
            raise DecodeError(f"{channel.name}: not a number")
    return round(value * channel.scale + channel.offset, 6)


def encode(channel: Channel, value: float) -> list[int]:
    """The inverse of `decode`, for the emulator and tests."""
    raw_value = (value - channel.offset) / channel.scale
    dt = channel.data_type
    if dt == "int16":
        n = round(raw_value)
        if channel.negative == "offset10000" and n < 0:
            return [10000 - n]
        raw = struct.pack(">h", n)
    elif dt == "uint16":
        raw = struct.pack(">H", round(raw_value))
    elif dt == "int32":
        raw = struct.pack(">i", round(raw_value))
    elif dt == "uint32":
        raw = struct.pack(">I", round(raw_value))
    else:
        raw = struct.pack(">f", raw_value)
    regs = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return regs if channel.word_order == "big" else list(reversed(regs))


PROFILES: Final[dict[str, SensorProfile]] = {
    p.name: p
    for p in (
        SensorProfile(
            name="xy-md02",
            description="XY-MD02/XY-MD01 SHT20 sensor: FC04 reg 1 temperature x10, reg 2 humidity",
            channels=(
                Channel(name="temperature", function=4, address=1),
                Channel(name="humidity", kind="humidity", function=4, address=2),
            ),
        ),
        SensorProfile(
            name="dixell-xr",
            description="Dixell XR60CX/XR75CX controller via XJ485: FC03 256..258 probes x10",
            channels=(
                Channel(name="probe1", function=3, address=256, fault_raw=(0x7FFF, 0x8000)),
                Channel(name="probe2", function=3, address=257, fault_raw=(0x7FFF, 0x8000)),
                Channel(name="probe3", function=3, address=258, fault_raw=(0x7FFF, 0x8000)),
            ),
        ),
        SensorProfile(
            name="kincony-sht30",
            description="Kincony SHT30: FC03 reg 0 temperature x10, negative = 10000 + |t| x10",
            channels=(
                Channel(name="temperature", function=3, address=0, negative="offset10000"),
                Channel(name="humidity", kind="humidity", function=3, address=1),
            ),
        ),
        SensorProfile(
            name="float32-transmitter",
            description="Transmitter with IEEE 754 float32 temperature in input registers 0-1",
            channels=(
                Channel(name="temperature", function=4, address=0, data_type="float32", scale=1.0),
            ),
        ),
    )
}
