"""`server.websocket_protocol`: the fast send's frames are the frames the websockets library reads."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.websocket_protocol import text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
def test_a_text_frame_of_any_length_parses_back_whole(size: int) -> None:
    payload = ("é" * size).encode()[:size]  # multi-byte text, cut to the exact size
    reader = StreamReader()
    reader.feed_data(text_frame(payload))
    parsing = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parsing)
    except StopIteration as done:
        frame: Frame = done.value
    else:
        raise AssertionError("the frame was not complete")
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)
    assert frame.data == payload
    assert not reader.buffer  # nothing left over
