"""Progress of export and import: plain lines for logs, a tqdm bar on a terminal."""

from __future__ import annotations

import io

from service.cli.progress import Progress


def test_plain_lines_say_messages_bytes_rate_and_eta() -> None:
    """Off a terminal each line gives counts against totals, rates and an ETA, and the last
    state is printed once at the end."""
    out = io.StringIO()
    progress = Progress(
        "import eml", out, terminal=False, interval_s=0, total_bytes=4096, total_messages=4
    )
    progress.update(1, 1024, "0 dup, 0 failed")
    progress.update(4, 4096, "1 dup, 0 failed")
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("import eml: 1/4 messages, 1.00kB of 4.00kB, ")
    assert "msg/s, ETA 00:0" in lines[0]
    assert lines[1].startswith("import eml: 4/4 messages, 4.00kB of 4.00kB, ")
    assert lines[1].endswith("ETA 00:00, 1 dup, 0 failed")


def test_plain_lines_wait_for_the_interval() -> None:
    """Between intervals nothing is printed; the end still is."""
    out = io.StringIO()
    progress = Progress("export", out, terminal=False, interval_s=3600)
    for n in range(1, 100):
        progress.update(n, n * 1000)
    assert out.getvalue() == ""
    progress.close()
    assert out.getvalue().startswith("export: 99 messages, 96.7kB, ")
    assert "ETA" not in out.getvalue()  # no total to reach


def test_terminal_bar_counts_and_learns_its_total() -> None:
    """On a terminal a bar counts messages (export) and takes the total when it arrives."""
    out = io.StringIO()
    progress = Progress("export", out, terminal=True, interval_s=5)
    progress.set_total_messages(10)
    progress.update(5, 5 << 20)
    progress.close()
    shown = out.getvalue()
    assert "export" in shown
    assert "5/10" in shown
    assert "5.00MB" in shown
