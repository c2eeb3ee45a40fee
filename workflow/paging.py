"""One page of a list, shaped like Flask-SQLAlchemy's pagination so one pager macro serves all."""

from dataclasses import dataclass
from math import ceil


@dataclass(frozen=True)
class ListPage:
    """A page of ``items``; ``capped`` says ``total`` is a lower bound (「1000+」)."""

    items: list
    page: int
    per_page: int
    total: int
    capped: bool = False

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def page_number(args) -> int:
    """The ``page`` query argument as a page number; anything else is page 1."""
    raw = (args.get("page") or "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1
