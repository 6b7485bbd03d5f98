"""`make demo` at this stage: Quattrocento-layout frames through Stream on the emulator."""

import pytest

from neuroedge.demo import run_stream_demo


@pytest.mark.slow
def test_stream_demo_keeps_up_with_real_time_without_drops(edgedl_mpy):
    result = run_stream_demo(seconds=2.0)
    assert result.frames == 4096
    assert (result.channels_in, result.channels_kept) == (312, 192)
    assert result.windows == (4096 - 20) // 10 + 1
    assert result.frames_dropped == 0
    assert result.last_window_ok
    assert result.realtime_factor > 1.0  # a loose floor: the figure itself is reported, not asserted
