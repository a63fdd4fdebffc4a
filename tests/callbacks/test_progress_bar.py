"""The training bar is redrawn a few times a second, and always at an epoch's last batch."""

from types import SimpleNamespace

from lightning.pytorch.callbacks import RichProgressBar

from tuneforge.callbacks import progress_bar
from tuneforge.callbacks.progress_bar import ProgressBar


def test_redraws_at_most_refresh_per_second_and_at_the_last_batch(monkeypatch):
    drawn, clock = [], SimpleNamespace(now=0.0)
    monkeypatch.setattr(
        RichProgressBar, "on_train_batch_end", lambda self, *args: drawn.append(args[-1])
    )
    monkeypatch.setattr(progress_bar.time, "monotonic", lambda: clock.now)
    monkeypatch.setattr(ProgressBar, "total_train_batches", 10)
    bar = ProgressBar(refresh_per_second=4)
    for batch_idx in range(10):  # a batch every 0.1 s: one redraw in each 0.25 s, and the last
        clock.now = 0.1 * batch_idx
        bar.on_train_batch_end(None, None, None, None, batch_idx)
    assert drawn == [0, 3, 6, 9]


def test_refresh_rate_zero_still_turns_the_bar_off():
    assert ProgressBar(refresh_rate=0).is_disabled
