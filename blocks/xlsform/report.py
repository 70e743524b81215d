"""The result of an XLSForm import and the issues found on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from blocks.errors import AppgraphError

Severity = Literal["warning", "error"]


class XLSFormError(AppgraphError):
    """Raised when an uploaded file cannot be read as an XLSForm at all."""


@dataclass(frozen=True)
class ImportIssue:
    """Something in the spreadsheet that was not imported as written.

    A warning means something was left out or changed that the form can do
    without, such as an appearance, a default value or device metadata. An
    error means part of a question (a condition, a list of options) or a whole
    question is missing, so the app behaves differently until it is fixed.

    Attributes:
        sheet: Sheet name: ``survey``, ``choices``, ``external_choices`` or
            ``settings``.
        row: 1-based spreadsheet row, or None for the whole sheet or file.
        column: Canonical XLSForm column name, such as ``relevant``, or None.
        message: Sentence saying what was not imported and what to do.
        severity: ``"warning"`` or ``"error"``.
    """

    sheet: str
    row: int | None
    column: str | None
    message: str
    severity: Severity


@dataclass(frozen=True)
class ImportResult:
    """A definition built from an XLSForm, with the issues found.

    Attributes:
        title: Form title from the settings sheet, else from the file name.
        slug_hint: Suggested app slug: lowercase words joined by ``-``.
        definition: JSON data for :func:`blocks.definition.parse_definition`.
        issues: Issues in sheet order, then row order.
    """

    title: str
    slug_hint: str
    definition: dict[str, Any]
    issues: tuple[ImportIssue, ...]

    @property
    def errors(self) -> tuple[ImportIssue, ...]:
        """Return the issues of severity ``"error"``."""
        return tuple(issue for issue in self.issues if issue.severity == "error")

    @property
    def warnings(self) -> tuple[ImportIssue, ...]:
        """Return the issues of severity ``"warning"``."""
        return tuple(issue for issue in self.issues if issue.severity == "warning")


_SHEET_ORDER = {"settings": 0, "survey": 1, "choices": 2, "external_choices": 3}


@dataclass
class IssueLog:
    """Collects issues while a workbook is imported."""

    issues: list[ImportIssue] = field(default_factory=list)

    def warning(
        self, sheet: str, row: int | None, column: str | None, message: str
    ) -> None:
        """Record a warning issue."""
        self.issues.append(ImportIssue(sheet, row, column, message, "warning"))

    def error(
        self, sheet: str, row: int | None, column: str | None, message: str
    ) -> None:
        """Record an error issue."""
        self.issues.append(ImportIssue(sheet, row, column, message, "error"))

    def ordered(self) -> tuple[ImportIssue, ...]:
        """Return the issues by sheet and row, keeping the order within a row."""
        return tuple(
            sorted(
                self.issues,
                key=lambda issue: (
                    _SHEET_ORDER.get(issue.sheet, len(_SHEET_ORDER)),
                    issue.row or 0,
                ),
            )
        )
