"""The time window every insight is computed over, and how a request names it.

A period is half-open, ``[since, until)``: an order submitted exactly at
``until`` belongs to the next period, so consecutive periods never count an
order twice. Dates given by people (``?since=2026-01-01&until=2026-03-31``)
are whole days in the portal's time zone, ``until`` included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

#: What a dashboard shows when the request names no period.
DEFAULT_DAYS = 90
#: The longest period a request may ask for: the pages and the API stay fast.
MAX_DAYS = 3 * 366
#: Ready-made choices on the pages.
PRESET_DAYS = (7, 30, 90, 365)


class PeriodError(ValueError):
    """A request named an unusable period; ``errors`` maps parameter -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{key}: {' '.join(messages)}" for key, messages in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Period:
    """``[since, until)`` with the clock it was computed at (``now``)."""

    since: datetime
    until: datetime
    now: datetime

    @classmethod
    def last(cls, days: int, *, now: datetime | None = None) -> Period:
        now = now or timezone.now()
        return cls(since=now - timedelta(days=days), until=now, now=now)

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400

    def previous(self) -> Period:
        """The period of the same length just before this one (for trends)."""
        length = self.until - self.since
        return Period(since=self.since - length, until=self.since, now=self.now)

    def as_query(self) -> dict[str, str]:
        """Query parameters that name this period again (CSV links)."""
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}

    @property
    def first_day(self) -> date:
        return timezone.localtime(self.since).date()

    @property
    def last_day(self) -> date:
        """The last day the period touches (``until`` is exclusive)."""
        return timezone.localtime(self.until - timedelta(microseconds=1)).date()

    @property
    def label(self) -> str:
        local_since = timezone.localtime(self.since)
        # ``until`` is exclusive: a period ending at midnight ends the day before.
        local_until = timezone.localtime(self.until - timedelta(microseconds=1))
        return f"{local_since:%Y-%m-%d} - {local_until:%Y-%m-%d}"


FIRST_YEAR, LAST_YEAR = 1970, 2999


def _parse_bound(name: str, raw: str, *, end: bool) -> datetime:
    text = raw.strip()
    moment: datetime | None = None
    parsed_date: date | None = None
    try:
        # A date first: parse_datetime would read "2026-01-31" as midnight.
        parsed_date = parse_date(text)
        if parsed_date is None:
            moment = parse_datetime(text)
    except ValueError:
        moment = None
        parsed_date = None
    found = parsed_date or moment
    if found is None:
        raise PeriodError({name: [f"{raw!r} is not an ISO date (2026-01-31) or date-time."]})
    year = found.year
    if not FIRST_YEAR <= year <= LAST_YEAR:
        # Date arithmetic near year 1 or 9999 overflows; no order is that old.
        raise PeriodError({name: [f"{raw!r} is out of range: use a date from {FIRST_YEAR} to {LAST_YEAR}."]})
    if moment is None:
        assert parsed_date is not None
        # A whole day: ``until`` includes the day it names.
        day = parsed_date + timedelta(days=1) if end else parsed_date
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def period_from_query(
    params: Mapping[str, str], *, now: datetime | None = None, default_days: int = DEFAULT_DAYS
) -> Period:
    """The period named by ``since``/``until`` (or ``days``) in a query string.

    Missing bounds default to the last ``default_days`` up to now. Raises
    ``PeriodError`` naming each bad parameter.
    """
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    since = until = None
    days = default_days
    raw_days = params.get("days")
    if raw_days not in (None, ""):
        try:
            days = int(str(raw_days))
            if not 1 <= days <= MAX_DAYS:
                raise ValueError
        except ValueError:
            errors["days"] = [f"A whole number of days from 1 to {MAX_DAYS}."]
        if params.get("since") not in (None, ""):
            # Both name the start: one of them would be ignored without a word.
            errors.setdefault("days", []).append(
                "Give either days or since, not both (days counts back from until)."
            )
    for name in ("since", "until"):
        raw = params.get(name)
        if raw in (None, ""):
            continue
        try:
            parsed = _parse_bound(name, str(raw), end=name == "until")
        except PeriodError as error:
            errors.update(error.errors)
            continue
        if name == "since":
            since = parsed
        else:
            until = parsed
    if errors:
        raise PeriodError(errors)
    until = until or now
    since = since or until - timedelta(days=days)
    if since >= until:
        raise PeriodError({"since": ["'since' must be before 'until'."]})
    if until - since > timedelta(days=MAX_DAYS):
        raise PeriodError({"since": [f"A period spans at most {MAX_DAYS} days."]})
    return Period(since=since, until=until, now=now)
