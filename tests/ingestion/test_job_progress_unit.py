"""The Bronze job's progress lines, polled from a stand-in query's record of its progress (no
Spark): every batch that brought rows printed once, in order, batches ended between two polls
included, and idle triggers printing nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ingestion.job import _Progress


class StandInQuery:
    """``lastProgress`` and ``recentProgress`` as a streaming query keeps them."""

    def __init__(self) -> None:
        self.updates: list[SimpleNamespace] = []
        self.recent_reads = 0

    def trigger(self, batch: int, rows: int) -> None:
        stamp = f"2026-01-01T00:00:{len(self.updates):02d}.000Z"
        self.updates.append(
            SimpleNamespace(batchId=batch, numInputRows=rows, processedRowsPerSecond=100.0, timestamp=stamp)
        )

    @property
    def lastProgress(self) -> SimpleNamespace | None:
        return self.updates[-1] if self.updates else None

    @property
    def recentProgress(self) -> list[SimpleNamespace]:
        self.recent_reads += 1
        return list(self.updates)


def batch_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]


def test_each_batch_with_rows_once_as_it_ends(capsys: pytest.CaptureFixture[str]) -> None:
    query, progress = StandInQuery(), _Progress()
    progress.poll(query)  # nothing yet
    for batch in range(3):
        query.trigger(batch, 10)
        progress.poll(query)
        progress.poll(query)  # the same update again
    assert batch_lines(capsys) == ["batch 0", "batch 1", "batch 2"]
    assert progress.batches == 3
    assert query.recent_reads == 0  # one update a poll: the last one is enough


def test_batches_ended_between_two_polls_are_printed_too(capsys: pytest.CaptureFixture[str]) -> None:
    query, progress = StandInQuery(), _Progress()
    query.trigger(0, 10)
    progress.poll(query)
    for batch in (1, 2, 3):
        query.trigger(batch, 10)
    progress.poll(query)
    assert batch_lines(capsys) == ["batch 0", "batch 1", "batch 2", "batch 3"]
    assert progress.batches == 4


def test_idle_triggers_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    query, progress = StandInQuery(), _Progress()
    query.trigger(0, 10)
    progress.poll(query)
    for _ in range(3):  # a following job's updates while Kafka has nothing new
        query.trigger(1, 0)
        progress.poll(query)
    query.trigger(1, 5)
    progress.poll(query)
    assert batch_lines(capsys) == ["batch 0", "batch 1"]
    assert (progress.batches, query.recent_reads) == (2, 0)
