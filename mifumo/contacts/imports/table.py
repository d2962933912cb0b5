"""What every reader returns: the rows of one sheet, numbered as the user's program shows them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Row = tuple[int, list[Any]]  # (row number, cells); a spreadsheet's header is row 1


@dataclass
class Table:
    rows: Iterator[Row]
    # What the reader found out, shown with the job: encoding, delimiter, sheet name...
    details: dict[str, Any] = field(default_factory=dict)
    # vCard and JSON have no header row: the reader yields one (row 0) made of field names.
    made_up_header: bool = False
    # Closes what the reader opened (a workbook); safe to call twice.
    close: Any = None

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc) -> None:
        if self.close is not None:
            self.close()
            self.close = None
