"""FEIG and Chafon framing: published vectors, round trips and fuzzing of the decoder."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import cabinet_protocol as cp
from readers.cabinet_protocol import Frame, FrameDecoder, Protocol

VECTORS = [
    (Protocol.FEIG, "05 FF 65 E5 CB", Frame(0xFF, 0x65, None, b"")),
    (Protocol.FEIG, "06 12 80 07 E5 80", Frame(0x12, 0x80, None, b"\x07")),
    (Protocol.FEIG, "02 00 08 12 80 07 A0 2D", Frame(0x12, 0x80, None, b"\x07", advanced=True)),
    (Protocol.FEIG, "02 00 07 FF 65 6E 61", Frame(0xFF, 0x65, None, b"", advanced=True)),
    (Protocol.FEIG, "07 FF B0 01 00 1C 56", Frame(0xFF, 0xB0, None, b"\x01\x00")),
    (Protocol.CHAFON, "04 00 21 D9 6A", Frame(0x00, 0x21, None, b"")),
    (Protocol.CHAFON, "04 FF 21 19 95", Frame(0xFF, 0x21, None, b"")),
    (Protocol.CHAFON, "04 00 01 DB 4B", Frame(0x00, 0x01, None, b"")),
    (Protocol.CHAFON, "04 FF 01 1B B4", Frame(0xFF, 0x01, None, b"")),
]


@pytest.mark.parametrize(("protocol", "hex_frame", "frame"), VECTORS)
def test_published_vectors(protocol: Protocol, hex_frame: str, frame: Frame) -> None:
    raw = bytes.fromhex(hex_frame)
    assert cp.encode(protocol, frame) == raw
    assert FrameDecoder(protocol, responses=False).feed(raw) == [frame]


def test_crc_check_value() -> None:
    assert cp.crc16_mcrf4xx(b"123456789") == 0x6F91


def test_byte_by_byte_and_split_frames() -> None:
    raw = bytes.fromhex("07 FF B0 01 00 1C 56") * 3
    dec = FrameDecoder(Protocol.FEIG, responses=False)
    frames = [f for b in raw for f in dec.feed(bytes([b]))]
    assert len(frames) == 3 and dec.pending == 0


def test_corrupted_crc_is_skipped_and_counted() -> None:
    dec = FrameDecoder(Protocol.CHAFON, responses=False)
    assert dec.feed(bytes.fromhex("04 00 21 D9 6B")) == []
    assert dec.gap() == []
    assert dec.feed(bytes.fromhex("04 00 21 D9 6A")) == [Frame(0, 0x21, None, b"")]
    assert dec.crc_errors_total >= 1


def test_noise_that_looks_like_a_long_frame_is_rescanned_after_silence() -> None:
    dec = FrameDecoder(Protocol.FEIG, responses=False)
    good = bytes.fromhex("05 FF 65 E5 CB")
    assert dec.feed(b"\xff\x13" + good) == []  # 0xFF claims a 255-byte frame
    assert dec.gap() == [Frame(0xFF, 0x65, None, b"")]


def test_inventory_payloads_round_trip() -> None:
    epcs = [bytes.fromhex("3074257BF7194E4000001A85"), bytes(range(12)), b"\x01\x02"]
    assert cp.parse_feig_inventory(cp.feig_inventory_records(epcs)) == epcs
    assert cp.parse_chafon_inventory(cp.chafon_inventory_records(epcs)) == epcs
    with pytest.raises(cp.InventoryFormatError):
        cp.parse_feig_inventory(cp.feig_inventory_records(epcs)[:-1])


frames = st.builds(
    Frame,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=300),
    st.booleans(),
)


@given(st.sampled_from(list(Protocol)), frames)
def test_encode_decode_round_trip(protocol: Protocol, frame: Frame) -> None:
    if protocol == Protocol.CHAFON and len(frame.data) > 250:
        with pytest.raises(ValueError):
            cp.encode(protocol, frame)
        return
    raw = cp.encode(protocol, frame)
    (got,) = FrameDecoder(protocol).feed(raw)
    assert (got.address, got.command, got.status, got.data) == (
        frame.address,
        frame.command,
        frame.status,
        frame.data,
    )


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(Protocol)), st.binary(max_size=2000))
def test_fuzz_random_bytes_never_raise(protocol: Protocol, data: bytes) -> None:
    dec = FrameDecoder(protocol)
    for i in range(0, len(data), 7):
        for f in dec.feed(data[i : i + 7]):
            assert isinstance(f.data, bytes)
    assert dec.pending <= dec.max_buffer


@pytest.mark.parametrize("protocol", list(Protocol))
def test_fuzz_100k_frames_with_garbage_and_corruption(protocol: Protocol) -> None:
    """Every intact frame in a noisy stream is recovered; nothing raises.

    Segments (good frame, corrupted frame, garbage) are separated by line silence, as on
    a real serial link where each reply follows a request.
    """
    rng = random.Random(42)
    dec = FrameDecoder(protocol)
    sent: list[Frame] = []
    got: list[Frame] = []
    for _ in range(100_000):
        kind = rng.random()
        if kind < 0.7:
            data = rng.randbytes(rng.randint(0, 40))
            frame = Frame(rng.randrange(256), rng.randrange(256), rng.randrange(256), data)
            raw = cp.encode(protocol, frame)
            sent.append(frame)
        elif kind < 0.85:
            bent = bytearray(cp.encode(protocol, Frame(1, 2, 3, rng.randbytes(rng.randint(0, 40)))))
            bent[rng.randrange(len(bent))] ^= 1 << rng.randrange(8)
            raw = bytes(bent)
        else:
            raw = rng.randbytes(rng.randint(1, 30))
        cut = rng.randint(0, len(raw))
        got += dec.feed(raw[:cut])
        got += dec.feed(raw[cut:])
        got += dec.gap()
    # all intact frames, in order; noise may add a chance CRC-valid frame, never remove one
    it = iter(got)
    assert all(any(f == g for g in it) for f in sent)
    assert len(sent) > 65_000
