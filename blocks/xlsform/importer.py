"""Import of XLSForm workbooks as app definitions.

pyxform, the reference XLSForm converter, reads the sheets and normalizes
their headers (aliases such as ``relevance``, ``label::English (en)`` groups,
smart quotes). This module maps the rows to blocks, translates the XPath
columns with :mod:`blocks.xlsform.xpath`, and records an
:class:`ImportIssue` for everything that is not imported as written.
It calls pyxform functions that are not documented as public (the sheet
readers, ``dealias_and_group_headers`` and the type regexes of ``xls2json``),
as found in pyxform 4.5.

The import runs in two passes. The first builds the block tree row by row and
queues every expression cell. The second translates the queued cells, because
XPath may refer to questions further down the sheet and a reference into a
repeat needs the repeat's position in the tree.
"""

from __future__ import annotations

import copy
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import PurePath
from typing import Any

from pyxform import aliases, constants
from pyxform.errors import PyXFormError
from pyxform.parsing.parameters import parse as parse_parameters
from pyxform.parsing.sheet_headers import dealias_and_group_headers
from pyxform.question import MultipleChoiceQuestion, Option
from pyxform.question_type_dictionary import QUESTION_TYPE_DICT
from pyxform.survey import Survey
from pyxform.xls2json import RE_BEGIN_CONTROL, RE_END_CONTROL, RE_SELECT
from pyxform.xls2json_backends import DefinitionData, xls_to_dict, xlsx_to_dict

from blocks.xlsform.report import ImportResult, IssueLog, XLSFormError
from blocks.xlsform.xpath import Translation, XPathTranslationError, translate_xpath

logger = logging.getLogger(__name__)

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DEFAULT = "default"
_SELECT_TYPES = {
    constants.SELECT_ONE: "select_one",
    constants.SELECT_ONE_EXTERNAL: "select_one",
    constants.SELECT_ALL_THAT_APPLY: "select_many",
}
_FILE_LIST_EXTENSIONS = (".csv", ".xml", ".geojson")
# Choices-sheet columns that the importer reads itself. The other columns go
# to the option's data mapping when their header is an XML name, because only
# such a header can appear in a choice filter.
_CHOICE_COLUMNS = frozenset({constants.LIST_NAME_S, "name", "label", "media"})
_XML_NAME = re.compile(r"[^\W\d][\w.-]*")
_LANGUAGE_CODE = re.compile(r"\(([A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)\)\s*$")
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_TEXT_REFERENCE = re.compile(r"\$\{[^}]*\}")

# Question kinds of the XLSForm types whose pyxform entry alone does not tell
# (see _question_kind).
_EXPLICIT_KINDS = {
    "calculate": "calculate",
    "hidden": "hidden",
    "range": "range",
    "note": "note",
    "acknowledge": "acknowledge",
    "trigger": "acknowledge",
    "geotrace": "unsupported",
    "geoshape": "unsupported",
    "osm": "unsupported",
    "audit": "metadata",
    "start-geopoint": "metadata",
    "background-audio": "metadata",
    "background-geopoint": "metadata",
    "xml-external": "external",
    "csv-external": "external",
}
_INPUT_KINDS = {
    "string": "text",
    "int": "integer",
    "decimal": "decimal",
    "date": "date",
    "time": "time",
    "dateTime": "datetime",
    "geopoint": "geopoint",
    "barcode": "barcode",
}
_UPLOAD_KINDS = {
    "image/*": "photo",
    "audio/*": "audio",
    "video/*": "video",
    "application/*": "file",
}
# Kinds that import as the block type of the same name with an empty config.
_PLAIN_KINDS = frozenset(
    {"date", "time", "geopoint", "audio", "video", "file", "barcode", "note"}
)
# Survey columns without an equivalent: (group, key) or (column,), the
# canonical column name and the start of the warning.
_DROPPED_COLUMNS = (
    (("default",), "default", "Default values are not supported yet"),
    (("bind", "readonly"), "read_only", "Read-only questions are not supported"),
    (
        ("bind", "jr:requiredMsg"),
        "required_message",
        "Custom messages for required questions are not supported, so the "
        "standard message is shown",
    ),
    (("guidance_hint",), "guidance_hint", "Guidance hints are not supported"),
    (("trigger",), "trigger", "Triggers are not supported"),
    (("media",), "media", "Images, audio and video in labels are not supported"),
)
_NUMERIC_TYPES = frozenset({"number", "slider", "counter", "rating", "unique_number"})


def import_xlsform(data: bytes, filename: str) -> ImportResult:
    """Convert an XLSForm workbook (.xlsx or .xls) into an app definition.

    Args:
        data: The uploaded file.
        filename: Its name, used in messages and for the title and slug when
            the settings sheet has none.

    Raises:
        XLSFormError: the file is not an Excel workbook, cannot be read, or
            has no survey sheet with questions.
    """
    workbook = _read_workbook(data, filename)
    settings = _read_settings(filename, workbook)
    language_name = str(settings.get(constants.DEFAULT_LANGUAGE_KEY) or _DEFAULT)
    languages = _Languages(language_name)
    survey = _read_sheet(filename, "survey", workbook, language_name)
    if not any(row.text("type") for row in survey):
        raise XLSFormError(
            f"The survey sheet of {filename!r} has no questions: no row has a type. "
            "Add questions to the survey sheet and upload the file again."
        )

    log = IssueLog()
    lists = {
        sheet: _ChoiceReader(log, languages, sheet).read(
            _read_sheet(filename, sheet, workbook, language_name)
        )
        for sheet in ("choices", "external_choices")
    }
    builder = _SurveyBuilder(log, languages, lists)
    blocks = builder.build(survey)
    builder.translate_expressions()

    title, slug_hint = _title_and_slug(settings, filename)
    # The default language is looked up first because it adds its code to
    # the list of languages.
    default_language = languages.default_code()
    definition = {
        "languages": languages.codes(),
        "default_language": default_language,
        "blocks": blocks,
    }
    result = ImportResult(title, slug_hint, definition, log.ordered())
    logger.debug(
        "Imported XLSForm %s: %d top-level blocks, %d errors, %d warnings",
        filename,
        len(blocks),
        len(result.errors),
        len(result.warnings),
    )
    return result


# Reading the workbook ----------------------------------------------------------


class _Row:
    """One spreadsheet row with pyxform's header names and its row number."""

    def __init__(self, cells: Mapping[str, Any]) -> None:
        self.number = int(cells["__row"])
        self.cells = {key: value for key, value in cells.items() if key != "__row"}

    def get(self, *path: str) -> Any:
        """Return the cell at ``path``, such as ``("bind", "relevant")``, or None."""
        value: Any = self.cells
        for key in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    def text(self, *path: str) -> str:
        """Return the cell at ``path`` as stripped text, or ``""``."""
        value = self.get(*path)
        return "" if value is None or isinstance(value, Mapping) else str(value).strip()


def _read_workbook(data: bytes, filename: str) -> DefinitionData:
    if data.startswith(_XLSX_MAGIC):
        reader: Callable[[BytesIO], dict[str, Any]] = xlsx_to_dict
    elif data.startswith(_XLS_MAGIC):
        reader = xls_to_dict
    else:
        problem = "is empty" if not data else "is not an Excel workbook"
        raise XLSFormError(
            f"The file {filename!r} {problem}. Expected an XLSForm saved as .xlsx or "
            ".xls; open the form in a spreadsheet program, save it in one of these "
            "formats and upload it again."
        )
    try:
        sheets = reader(BytesIO(data))
    except Exception as error:
        # pyxform wraps the usual read errors in PyXFormError, but xlrd and
        # openpyxl raise assorted exceptions (IndexError, CompDocError, ...)
        # on damaged files, and an upload must not fail with any of them.
        # NOTE: For damaged .xls files xlrd also prints warnings to stdout,
        # because pyxform opens the workbook without a logfile.
        logger.debug("Reading workbook %s failed", filename, exc_info=True)
        detail = str(error).rstrip(".") or type(error).__name__
        raise XLSFormError(
            f"The file {filename!r} could not be read as a workbook: {detail}. "
            "Check that it opens in a spreadsheet program, save it again and "
            "upload it again."
        ) from error
    workbook = DefinitionData(**sheets)
    if workbook.survey is None:
        found = ", ".join(repr(name) for name in workbook.sheet_names or ())
        raise XLSFormError(
            f"The workbook {filename!r} has no sheet named 'survey' (sheets found: "
            f"{found or 'none'}). An XLSForm lists its questions on a sheet named "
            "'survey'; rename the sheet and upload the file again."
        )
    return workbook


# pyxform's expected columns and header aliases of each sheet.
_SHEET_HEADERS: dict[str, tuple[Callable[[], Sequence[str]], Mapping[str, Any]]] = {
    "survey": (MultipleChoiceQuestion.get_slot_names, aliases.survey_header),
    "choices": (Option.get_slot_names, aliases.list_header),
    "external_choices": (Option.get_slot_names, aliases.list_header),
    "settings": (Survey.get_slot_names, aliases.settings_header),
}


def _read_sheet(
    filename: str, sheet: str, workbook: DefinitionData, language_name: str
) -> list[_Row]:
    """Return the rows of ``sheet`` with pyxform's header names and row numbers.

    Texts of columns without a language, such as a plain ``label``, belong to
    ``language_name``, as pyxform reads them.
    """
    columns, header_aliases = _SHEET_HEADERS[sheet]
    try:
        result = dealias_and_group_headers(
            sheet_name=sheet,
            sheet_data=getattr(workbook, sheet) or [],
            sheet_header=getattr(workbook, f"{sheet}_header") or [],
            header_aliases=dict(header_aliases),
            header_columns=set(columns()),
            default_language=language_name,
            strip_whitespace=sheet == "survey",
            add_row_number=True,
        )
    except PyXFormError as error:
        raise XLSFormError(
            f"The {sheet} sheet of {filename!r} could not be read: {error} "
            "Correct the column headers and upload the file again."
        ) from error
    return [_Row(cells) for cells in result.data]


def _read_settings(filename: str, workbook: DefinitionData) -> dict[str, Any]:
    rows = _read_sheet(filename, "settings", workbook, _DEFAULT)
    # The settings are on the first row below the headers.
    return rows[0].cells if rows else {}


def _title_and_slug(settings: Mapping[str, Any], filename: str) -> tuple[str, str]:
    stem = PurePath(filename).stem
    title = str(settings.get(constants.TITLE) or "").strip()
    if not title:
        title = re.sub(r"[_\s-]+", " ", stem).strip() or "Imported form"
    form_id = str(settings.get(constants.ID_STRING) or "").strip() or stem
    slug = re.sub(r"[^a-z0-9]+", "-", form_id.lower()).strip("-")
    return title, slug or "imported-form"


# Languages and texts -----------------------------------------------------------


class _Languages:
    """Language codes of the form, from XLSForm names like ``English (en)``.

    The code is the one in brackets at the end of the name, else the name in
    lowercase ASCII with ``-`` between words. Untagged columns use ``default``.
    """

    def __init__(self, default_name: str) -> None:
        self._default_name = default_name
        self._codes: dict[str, None] = {}
        self._has_untagged = False

    def code(self, name: str) -> str:
        match = _LANGUAGE_CODE.search(name)
        if match:
            code = match.group(1)
        else:
            ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore")
            words = re.sub(r"[^a-z0-9]+", "-", ascii_name.decode().lower())
            code = words.strip("-") or _DEFAULT
        if code == _DEFAULT:
            self._has_untagged = True
        else:
            self._codes[code] = None
        return code

    def texts(self, value: Any) -> dict[str, str]:
        """Return a cell or a group of language cells as ``{code: text}``."""
        if value is None or value == "":
            return {}
        if not isinstance(value, Mapping):
            return {self.code(self._default_name): str(value)}
        return {
            self.code(str(name)): text
            for name, text in value.items()
            if isinstance(text, str) and text
        }

    def codes(self) -> list[str]:
        """Return the codes seen, in order of first use, without ``default``."""
        return list(self._codes)

    def default_code(self) -> str:
        """Return the settings' default language, else the form's main language."""
        if self._default_name != _DEFAULT:
            return self.code(self._default_name)
        if self._has_untagged or not self._codes:
            return _DEFAULT
        return next(iter(self._codes))


# Choices -----------------------------------------------------------------------


@dataclass
class _ChoiceList:
    name: str
    options: list[dict[str, Any]] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)
    """Columns present in the data of at least one option."""


class _ChoiceReader:
    def __init__(self, log: IssueLog, languages: _Languages, sheet: str) -> None:
        self._log = log
        self._languages = languages
        self._sheet = sheet

    def read(self, rows: Sequence[_Row]) -> dict[str, _ChoiceList]:
        lists: dict[str, _ChoiceList] = {}
        first_rows: dict[tuple[str, str], int] = {}
        for row in rows:
            list_name = row.text(constants.LIST_NAME_S)
            if not list_name:
                continue
            choice_list = lists.setdefault(list_name, _ChoiceList(list_name))
            value = row.text("name")
            if not value:
                self._log.error(
                    self._sheet,
                    row.number,
                    "name",
                    f"A choice of the list {list_name!r} has no name, so it was not "
                    "imported. Enter the value to store in the name column.",
                )
                continue
            first = first_rows.setdefault((list_name, value), row.number)
            if first != row.number:
                self._log.warning(
                    self._sheet,
                    row.number,
                    "name",
                    f"The list {list_name!r} already has a choice named {value!r} in "
                    f"row {first}, so this row was not imported.",
                )
                continue
            option = self._option(row, list_name, value)
            choice_list.options.append(option)
            choice_list.columns.update(option.get("data", {}))
        return lists

    def _option(self, row: _Row, list_name: str, value: str) -> dict[str, Any]:
        label = self._languages.texts(row.get("label"))
        if not label:
            label = {self._languages.default_code(): value}
            self._log.warning(
                self._sheet,
                row.number,
                "label",
                f"The choice {value!r} of the list {list_name!r} has no label, so "
                "its name is shown instead.",
            )
        if row.get("media"):
            self._log.warning(
                self._sheet,
                row.number,
                "media",
                f"Images, audio and video of the choice {value!r} are not supported "
                "and were not imported.",
            )
        option: dict[str, Any] = {"value": value, "label": label}
        data = {
            column: cell
            for column, cell in row.cells.items()
            if column not in _CHOICE_COLUMNS
            and isinstance(cell, str)
            and _XML_NAME.fullmatch(column)
        }
        if data:
            option["data"] = data
        return option


# Survey ------------------------------------------------------------------------


@dataclass
class _Container:
    block: dict[str, Any]
    kind: str
    row: int
    scope: tuple[str, ...]
    """Ids of the repeats that contain the container's children."""


@dataclass
class _Pending:
    """An expression cell waiting for the second pass."""

    row: int
    column: str
    source: str
    block: dict[str, Any]
    scope: tuple[str, ...]
    apply: Callable[[Translation], None]
    choice_filter: bool = False


class _SurveyBuilder:
    """Builds the block tree from the survey rows, then translates expressions."""

    def __init__(
        self,
        log: IssueLog,
        languages: _Languages,
        lists: Mapping[str, Mapping[str, _ChoiceList]],
    ) -> None:
        self._log = log
        self._languages = languages
        self._lists = lists
        self._root = _Container({"children": []}, "root", 1, ())
        self._stack = [self._root]
        self._pending: list[_Pending] = []
        self._scopes: dict[str, tuple[str, ...]] = {}
        self._blocks: dict[str, dict[str, Any]] = {}
        # Children lists that contain each block, by id() of the block.
        self._parents: dict[int, list[dict[str, Any]]] = {}
        self._removed: set[int] = set()
        self._first_rows: dict[str, int] = {}
        self._skipped_rows: dict[str, int] = {}

    def _error(self, row: _Row | int, column: str | None, message: str) -> None:
        number = row if isinstance(row, int) else row.number
        self._log.error("survey", number, column, message)

    def _warning(self, row: _Row | int, column: str | None, message: str) -> None:
        number = row if isinstance(row, int) else row.number
        self._log.warning("survey", number, column, message)

    def build(self, rows: Sequence[_Row]) -> list[dict[str, Any]]:
        """Return the block tree of ``rows`` and queue their expressions."""
        for row in rows:
            type_text = row.text("type")
            if type_text:
                self._build_row(row, type_text)
            elif row.text("name"):
                name = row.text("name")
                message = f"The row named {name!r} has no type, so it was not imported."
                self._warning(row, "type", message)
        while len(self._stack) > 1:
            container = self._stack.pop()
            self._error(
                container.row,
                "type",
                f"The {container.kind} {container.block['id']!r} has no matching "
                f"'end {container.kind}' row; it was closed at the end of the sheet.",
            )
        children: list[dict[str, Any]] = self._root.block["children"]
        return children

    # Rows ----------------------------------------------------------------------

    def _build_row(self, row: _Row, type_text: str) -> None:
        end = RE_END_CONTROL.search(type_text)
        if end:
            self._end_container(aliases.control[end.group("type")], row.number)
            return
        name = row.text("name")
        if not name and type_text == "note":
            # pyxform names unnamed notes the same way.
            name = f"generated_note_name_{row.number}"
        if not name:
            self._error(
                row,
                "name",
                f"The {type_text!r} row has no name, so it was not imported. Enter a "
                "unique name.",
            )
            return
        begin = RE_BEGIN_CONTROL.search(type_text)
        if begin:
            self._begin_container(row, name, aliases.control[begin.group("type")])
            return
        select = RE_SELECT.search(type_text)
        if select:
            block = self._select_block(row, name, select)
        else:
            block = self._question_block(row, name, type_text)
        if block is not None:
            self._add(block, row)

    def _add(self, block: dict[str, Any], row: _Row) -> None:
        name = block["id"]
        first = self._first_rows.setdefault(name, row.number)
        if first != row.number:
            self._error(
                row,
                "name",
                f"The name {name!r} is already used in row {first}. Both questions "
                "were imported, but a definition needs unique ids: rename one.",
            )
        container = self._stack[-1]
        container.block["children"].append(block)
        self._scopes.setdefault(name, container.scope)
        self._blocks.setdefault(name, block)
        self._parents[id(block)] = container.block["children"]
        self._check_text_references(row, name)

    def _begin_container(self, row: _Row, name: str, kind: str) -> None:
        parent = self._stack[-1]
        if kind == constants.LOOP:
            self._error(
                row,
                "type",
                f"The loop {name!r} repeats its questions once per choice, which is "
                "not supported; it was imported as a section, so its questions "
                "are asked once.",
            )
        is_repeat = kind == constants.REPEAT
        block_type = "repeat" if is_repeat else "section"
        block = self._common_block(row, name, block_type, parent.scope, value=False)
        block["children"] = []
        if is_repeat:
            self._repeat_count(row, block, parent.scope)
        self._add(block, row)
        scope = (*parent.scope, name) if is_repeat else parent.scope
        self._stack.append(_Container(block, kind, row.number, scope))

    def _end_container(self, kind: str, row_number: int) -> None:
        if len(self._stack) == 1:
            self._error(
                row_number,
                "type",
                f"This 'end {kind}' row has no matching 'begin {kind}' row, so it "
                "was ignored.",
            )
            return
        container = self._stack.pop()
        if container.kind != kind:
            self._error(
                row_number,
                "type",
                f"This 'end {kind}' row closes the {container.kind} "
                f"{container.block['id']!r} begun in row {container.row}. Use "
                f"'end {container.kind}' there.",
            )

    def _repeat_count(
        self, row: _Row, block: dict[str, Any], scope: tuple[str, ...]
    ) -> None:
        count = row.text("control", "jr:count")
        if _INTEGER.fullmatch(count):
            block["config"] = {"min_rows": int(count), "max_rows": int(count)}
        elif count:

            def apply(translation: Translation) -> None:
                block.setdefault("config", {})["count"] = translation.expression

            self._queue(row, "repeat_count", count, block, scope, apply)

    # Selects -------------------------------------------------------------------

    def _select_block(
        self, row: _Row, name: str, select: re.Match[str]
    ) -> dict[str, Any] | None:
        command = aliases.select[select.group("select_command")]
        list_name = select.group("list_name")
        scope = self._stack[-1].scope
        if command == constants.RANK:
            message = (
                f"The rank question {name!r} is not supported and was not imported."
            )
            self._skip(row, name, message, error=True)
            return None
        sheet = "choices"
        if command == constants.SELECT_ONE_EXTERNAL:
            sheet = "external_choices"
        choice_list = self._lists[sheet].get(list_name)
        if choice_list is None or not choice_list.options:
            self._error(row, "type", _missing_list(list_name, sheet))
            dropped = (
                " and without its choice_filter" if row.text("choice_filter") else ""
            )
            self._warning(
                row,
                "type",
                f"The question {name!r} was imported as a text question{dropped} "
                "because its options are missing.",
            )
            return self._common_block(row, name, "text", scope)

        block = self._common_block(row, name, _SELECT_TYPES[command], scope)
        config: dict[str, Any] = {"options": copy.deepcopy(choice_list.options)}
        if select.group("specify_other"):
            config["allow_other"] = True
        block["config"] = config
        choice_filter = row.text("choice_filter")
        if choice_filter:
            self._queue_choice_filter(row, block, choice_list, choice_filter, scope)
        self._drop_parameters(row, name)
        return block

    def _queue_choice_filter(
        self,
        row: _Row,
        block: dict[str, Any],
        choice_list: _ChoiceList,
        source: str,
        scope: tuple[str, ...],
    ) -> None:
        def apply(translation: Translation) -> None:
            for column in translation.option_columns:
                if column != "name" and column not in choice_list.columns:
                    self._warning(
                        row,
                        "choice_filter",
                        f"The choice filter reads the column {column!r}, which the "
                        f"choices of the list {choice_list.name!r} do not have, so "
                        "it is null for every choice.",
                    )
            block["config"]["choice_filter"] = translation.expression

        self._queue(
            row, "choice_filter", source, block, scope, apply, choice_filter=True
        )

    # Other questions -----------------------------------------------------------

    def _question_block(
        self, row: _Row, name: str, type_text: str
    ) -> dict[str, Any] | None:
        kind = _question_kind(type_text)
        scope = self._stack[-1].scope
        if kind is None:
            self._error(
                row,
                "type",
                f"The type {type_text!r} of the question {name!r} is unknown, so it "
                "was imported as a text question. Correct the type.",
            )
            return self._common_block(row, name, "text", scope)

        if kind in ("metadata", "external", "unsupported"):
            reason = {
                "metadata": "is device metadata",
                "external": "is external data",
                "unsupported": "is not supported",
            }[kind]
            message = (
                f"The question {name!r} of type {type_text!r} {reason} and was not "
                "imported."
            )
            self._skip(row, name, message, error=kind == "unsupported")
            return None

        if kind == "calculate":
            return self._calculation_block(row, name, scope)
        if kind == "range":
            return self._slider_block(row, name, scope)
        if kind == "hidden":
            self._warning(
                row,
                "type",
                f"The hidden question {name!r} was imported as a text question, "
                "which users see and can edit.",
            )
            return self._common_block(row, name, "text", scope)

        appearances = set(row.text("control", "appearance").split())
        block_type, config = _block_type(kind, appearances)
        block = self._common_block(row, name, block_type, scope, value=kind != "note")
        if config:
            block["config"] = config
        self._drop_parameters(row, name)
        return block

    def _calculation_block(
        self, row: _Row, name: str, scope: tuple[str, ...]
    ) -> dict[str, Any] | None:
        source = row.text("bind", "calculate")
        if not source:
            message = (
                f"The calculation {name!r} has no expression in the calculation "
                "column, so it was not imported."
            )
            self._skip(row, name, message, error=True)
            return None
        block = self._common_block(row, name, "calculation", scope, value=False)
        block["config"] = {}

        def apply(translation: Translation) -> None:
            block["config"]["expression"] = translation.expression
            block["config"]["result"] = self._result_kind(translation)

        self._queue(row, "calculation", source, block, scope, apply)
        return block

    def _slider_block(
        self, row: _Row, name: str, scope: tuple[str, ...]
    ) -> dict[str, Any]:
        block = self._common_block(row, name, "slider", scope)
        defaults = QUESTION_TYPE_DICT["range"]["parameters"]
        parameters = {**defaults, **self._parameters(row)}
        config: dict[str, Any] = {}
        for source, target in (("start", "min"), ("end", "max"), ("step", "step")):
            number = _number_value(str(parameters.pop(source)))
            if number is None:
                self._error(
                    row,
                    "parameters",
                    f"The range parameter {source} of {name!r} is not a number, so "
                    "it was not imported.",
                )
            else:
                config[target] = number
        block["config"] = config
        self._warn_parameters(row, name, sorted(parameters))
        return block

    def _parameters(self, row: _Row) -> dict[str, str]:
        text = row.text("parameters")
        try:
            return dict(parse_parameters(text, row.number))
        except PyXFormError:
            self._error(
                row,
                "parameters",
                f"The parameters {text!r} could not be read. Write them as "
                "name=value pairs separated by spaces.",
            )
            return {}

    def _drop_parameters(self, row: _Row, name: str) -> None:
        self._warn_parameters(row, name, sorted(self._parameters(row)))

    def _warn_parameters(self, row: _Row, name: str, parameters: list[str]) -> None:
        if parameters:
            self._warning(
                row,
                "parameters",
                f"The parameters {', '.join(parameters)} of {name!r} are not "
                "supported and were not imported.",
            )

    def _skip(self, row: _Row, name: str, message: str, *, error: bool) -> None:
        self._skipped_rows.setdefault(name, row.number)
        if error:
            self._error(row, "type", message)
        else:
            self._warning(row, "type", message)

    # Attributes shared by all blocks ---------------------------------------------

    def _common_block(
        self,
        row: _Row,
        name: str,
        block_type: str,
        scope: tuple[str, ...],
        *,
        value: bool = True,
    ) -> dict[str, Any]:
        """Return a block with id, type, texts and visibility.

        Blocks that store a value (``value=True``) also get ``required`` and
        ``rules``. Their expressions are queued, not translated.
        """
        block: dict[str, Any] = {"id": name, "type": block_type}
        label = self._languages.texts(row.get("label"))
        if label:
            block["label"] = label
        hint = self._languages.texts(row.get("hint"))
        if hint:
            block["hint"] = hint
        relevant = row.text("bind", "relevant")
        if relevant:

            def apply_relevant(translation: Translation) -> None:
                block["visible_if"] = translation.expression

            self._queue(row, "relevant", relevant, block, scope, apply_relevant)

        if value:
            self._required(row, block, scope)
            self._constraint(row, block, scope)
        if block_type != "calculation" and row.text("bind", "calculate"):
            self._warning(
                row,
                "calculation",
                f"Calculated values of the {block_type} question {name!r} are not "
                "supported, so the calculation was not imported.",
            )
        for path, column, message in _DROPPED_COLUMNS:
            dropped = row.get(*path)
            if dropped and aliases.yes_no.get(str(dropped)) is not False:
                text = f"{message}; the {column} of {name!r} was not imported."
                self._warning(row, column, text)
        return block

    def _required(
        self, row: _Row, block: dict[str, Any], scope: tuple[str, ...]
    ) -> None:
        required = row.text("bind", "required")
        flag = aliases.yes_no.get(required)
        if flag is True:
            block["required"] = True
        elif required and flag is None:

            def apply(translation: Translation) -> None:
                block["required_if"] = translation.expression

            self._queue(row, "required", required, block, scope, apply)

    def _constraint(
        self, row: _Row, block: dict[str, Any], scope: tuple[str, ...]
    ) -> None:
        constraint = row.text("bind", "constraint")
        if not constraint:
            return
        message = self._languages.texts(row.get("bind", "jr:constraintMsg"))

        def apply(translation: Translation) -> None:
            rule: dict[str, Any] = {"expression": translation.expression}
            if message:
                rule["message"] = message
            block.setdefault("rules", []).append(rule)

        self._queue(row, "constraint", constraint, block, scope, apply)

    def _check_text_references(self, row: _Row, name: str) -> None:
        cells = (
            ("label", row.get("label")),
            ("hint", row.get("hint")),
            ("constraint_message", row.get("bind", "jr:constraintMsg")),
        )
        columns = [
            column
            for column, value in cells
            if any(_TEXT_REFERENCE.search(text) for text in _cell_texts(value))
        ]
        if columns:
            self._warning(
                row,
                columns[0],
                f"References to answers (${{name}}) in the {' and '.join(columns)} "
                f"of {name!r} were imported as plain text.",
            )

    # Expressions (second pass) ---------------------------------------------------

    def _queue(
        self,
        row: _Row,
        column: str,
        source: str,
        block: dict[str, Any],
        scope: tuple[str, ...],
        apply: Callable[[Translation], None],
        *,
        choice_filter: bool = False,
    ) -> None:
        pending = _Pending(
            row.number, column, source, block, scope, apply, choice_filter
        )
        self._pending.append(pending)

    def translate_expressions(self) -> None:
        """Translate the queued expression cells and store them in their blocks.

        A calculation whose expression cannot be translated is removed, since
        a calculation block needs an expression. Expressions that refer to a
        removed or skipped question are left out too, which can remove more
        calculations, so the check repeats until nothing changes.
        """
        translated: list[tuple[_Pending, Translation]] = []
        for pending in self._pending:
            translation = self._translate(pending)
            if translation is None:
                self._remove_calculation(pending)
            else:
                translated.append((pending, translation))

        changed = True
        while changed:
            changed = False
            remaining = []
            for pending, translation in translated:
                if id(pending.block) in self._removed:
                    changed = True
                elif self._references_exist(pending, translation):
                    remaining.append((pending, translation))
                else:
                    self._remove_calculation(pending)
                    changed = True
            translated = remaining

        for pending, translation in translated:
            pending.apply(translation)

    def _translate(self, pending: _Pending) -> Translation | None:
        def reference_path(name: str) -> tuple[str, ...]:
            return self._reference_path(name, pending.scope)

        try:
            return translate_xpath(
                pending.source,
                choice_filter=pending.choice_filter,
                reference_path=reference_path,
            )
        except XPathTranslationError as error:
            self._error(
                pending.row,
                pending.column,
                f"The {pending.column} {pending.source!r} could not be translated: "
                f"{error.message} {_left_out(pending)}",
            )
            return None

    def _references_exist(self, pending: _Pending, translation: Translation) -> bool:
        missing = [name for name in translation.references if name not in self._scopes]
        if not missing:
            return True
        reasons = [
            f"{name!r} (not imported, see row {self._skipped_rows[name]})"
            if name in self._skipped_rows
            else f"{name!r} (no question has this name)"
            for name in missing
        ]
        self._error(
            pending.row,
            pending.column,
            f"The {pending.column} {pending.source!r} refers to {', '.join(reasons)}. "
            f"{_left_out(pending)}",
        )
        return False

    def _remove_calculation(self, pending: _Pending) -> None:
        if pending.column != "calculation":
            return
        name = pending.block["id"]
        siblings = self._parents[id(pending.block)]
        siblings[:] = [block for block in siblings if block is not pending.block]
        self._removed.add(id(pending.block))
        self._scopes.pop(name, None)
        self._skipped_rows.setdefault(name, pending.row)

    def _reference_path(self, name: str, scope: tuple[str, ...]) -> tuple[str, ...]:
        """Return the field path from an expression in ``scope`` to ``name``.

        A question in the same or an enclosing repeat is reached by its name.
        A question inside a repeat that does not contain the expression is
        reached through the repeat, as ``trees.dbh``, which gives the list of
        its values in every row.
        """
        target = self._scopes.get(name, ())
        common = 0
        while common < min(len(scope), len(target)) and scope[common] == target[common]:
            common += 1
        return (*target[common:], name)

    def _result_kind(self, translation: Translation) -> str:
        """Return the calculation ``result`` for ``translation``.

        The result is what the XPath computes: a number for arithmetic and
        numeric functions, a boolean for comparisons, logical operators and
        tests. A calculation that is one reference takes the kind of the
        referenced question. Everything else is text, the type that pyxform
        gives every calculate bind.
        """
        if translation.result is not None:
            return translation.result
        referenced = self._blocks.get(translation.sole_reference or "")
        if referenced is None:
            return "text"
        if referenced["type"] in _NUMERIC_TYPES:
            return "number"
        if referenced["type"] == "boolean":
            return "boolean"
        if referenced["type"] == "calculation":
            return str(referenced["config"].get("result", "text"))
        return "text"


def _left_out(pending: _Pending) -> str:
    block_id = pending.block["id"]
    if pending.column == "calculation":
        return f"The calculation {block_id!r} was not imported."
    return f"The block {block_id!r} was imported without its {pending.column}."


def _missing_list(list_name: str, sheet: str) -> str:
    if list_name.endswith(_FILE_LIST_EXTENSIONS):
        return (
            f"The options are in the file {list_name!r}, which is not part of the "
            "workbook. Copy its rows to the choices sheet and use select_one or "
            "select_multiple with the list name."
        )
    if "${" in list_name:
        return (
            f"Options taken from the answers of a repeat ({list_name}) are not "
            "supported."
        )
    return (
        f"The list {list_name!r} is not in the {sheet} sheet, or it has no choices. "
        f"Add its choices to the {sheet} sheet or correct the list name."
    )


def _question_kind(type_text: str) -> str | None:
    """Return the question kind of an XLSForm type such as ``"int"``, or None.

    pyxform's question type table lists every alias (``string``, ``q int``,
    ``get start time`` ...) with its XForms control and bind type. The kind
    follows from those unless _EXPLICIT_KINDS names the type.
    """
    explicit = _EXPLICIT_KINDS.get(type_text)
    if explicit is not None:
        return explicit
    entry = QUESTION_TYPE_DICT.get(type_text)
    if entry is None:
        return None
    bind = entry.get("bind", {})
    control = entry.get("control", {})
    tag = control.get("tag")
    if "jr:preload" in bind:
        return "metadata"
    if tag == "trigger":
        return "acknowledge"
    if tag == "upload":
        return _UPLOAD_KINDS.get(control.get("mediatype", ""), "unsupported")
    if tag == "input":
        if bind.get("readonly") == "true()":
            return "note"
        return _INPUT_KINDS.get(bind.get("type", ""), "unsupported")
    if tag is None and bind.get("type") == "string":
        return "calculate"
    return "unsupported"


def _block_type(kind: str, appearances: set[str]) -> tuple[str, dict[str, Any]]:
    if kind == "text":
        return ("textarea" if "multiline" in appearances else "text"), {}
    if kind in ("integer", "decimal"):
        return "number", {"kind": kind}
    if kind == "datetime":
        return "datetime", {"require_offset": False}
    if kind == "photo":
        return ("signature" if "signature" in appearances else "photo"), {}
    if kind == "acknowledge":
        return "boolean", {}
    if kind in _PLAIN_KINDS:
        return kind, {}
    raise AssertionError(f"No block type for question kind {kind!r}.")


def _cell_texts(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [str(text) for text in value.values()]
    return [str(value)] if value else []


def _number_value(text: str) -> int | str | None:
    """Return an integer as int and a decimal as its text, or None."""
    text = text.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return text
    return None
