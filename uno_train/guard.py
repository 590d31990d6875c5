"""Stop a run whose data is all bad, instead of training on nothing.

The trainer skips and counts a bad record (uno_train.data.BadRecord) whatever the batch size. A
file of which no record is usable would then "train" on zero-weight stand-ins for every step; this
wrapper notices when the first records read are all bad, checks every record once, and stops with
one line if none is usable.
"""

from __future__ import annotations

from typing import Any

from uno_bench.errors import UnoError
from uno_train.data import BadRecord, DataSource
from uno_train.plans import Example

WINDOW = 64  # bad records in a row, with none good yet, before every record is checked


class AllBadGuard:
    def __init__(self, source: Any):
        self.source = source
        self.records = len(source.records)
        self.bad, self.good = 0, False

    def __getattr__(self, name: str) -> Any:  # the wrapped source's other attributes (words, path, ...)
        return getattr(self.source, name)

    def example(self, index: int) -> Example:
        try:
            example = self.source.example(index)
        except BadRecord:
            self.bad += 1
            if not self.good and self.bad == min(WINDOW, self.records):
                self._check_every_record()
            raise
        self.good = True
        return example

    def _check_every_record(self) -> None:
        for index in range(self.records):  # indices 0..n-1 are one epoch: every record once
            try:
                self.source.example(index)
            except BadRecord:
                continue
            self.good = True
            return
        where = getattr(self.source, "path", "the training data")
        raise UnoError(f"{where}: none of its {self.records} record(s) is usable (malformed line, no caption, "
                       "or a missing or unreadable image); nothing to train on")


def guard_all_bad(source: DataSource) -> DataSource:
    """Wrap record-based sources (a JSONL of records); generated ones (shapes) are never bad."""
    return AllBadGuard(source) if hasattr(source, "records") else source
