from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from blocks.base import ConfigContext
from blocks.definition import parse_definition
from blocks.expressions import parse
from blocks.registry import BlockRegistry
from blocks.validation import validate_definition
from blocks.xlsform import ImportIssue, ImportResult, XLSFormError, import_xlsform

DATA = Path(__file__).resolve().parents[2] / "data" / "xlsform"


def load(filename: str) -> ImportResult:
    return import_xlsform((DATA / filename).read_bytes(), filename)


def workbook(**sheets: Sequence[Sequence[Any]]) -> bytes:
    """Return an .xlsx file with one sheet per keyword, rows as given."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def import_rows(
    survey: Sequence[Sequence[Any]], **sheets: Sequence[Sequence[Any]]
) -> ImportResult:
    return import_xlsform(workbook(survey=survey, **sheets), "form.xlsx")


def walk(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        yield block
        yield from walk(block.get("children", []))


def blocks_by_id(result: ImportResult) -> dict[str, dict[str, Any]]:
    return {block["id"]: block for block in walk(result.definition["blocks"])}


def issues_at(result: ImportResult, row: int) -> list[ImportIssue]:
    return [issue for issue in result.issues if issue.row == row]


def expressions(result: ImportResult) -> Iterator[str]:
    for block in walk(result.definition["blocks"]):
        for key in ("visible_if", "required_if"):
            if key in block:
                yield block[key]
        for rule in block.get("rules", []):
            yield rule["expression"]
        config = block.get("config", {})
        for key in ("expression", "choice_filter", "count"):
            if key in config:
                yield config[key]


@pytest.fixture(scope="module")
def registry() -> BlockRegistry:
    return BlockRegistry.default(load_entry_points=False)


@pytest.fixture(scope="module")
def biomass() -> ImportResult:
    return load("UCL_Biomass_Plot_Form.xlsx")


@pytest.fixture(scope="module")
def biomass_blocks(biomass: ImportResult) -> dict[str, dict[str, Any]]:
    return blocks_by_id(biomass)


# UCL_Biomass_Plot_Form.xlsx ----------------------------------------------------


def test_biomass_definition_parses(biomass: ImportResult) -> None:
    definition = parse_definition(biomass.definition)
    assert definition.find("cbh") is not None


def test_biomass_definition_validates(
    biomass: ImportResult, registry: BlockRegistry
) -> None:
    definition = parse_definition(biomass.definition)
    assert validate_definition(definition, registry, ConfigContext()) == []


def test_biomass_title_and_slug(biomass: ImportResult) -> None:
    assert biomass.title == "UCL Biomass Plot Form"
    assert biomass.slug_hint == "ucl-biomass-plot-form"


def test_biomass_languages(biomass: ImportResult) -> None:
    assert biomass.definition["languages"] == ["sw", "en"]
    assert biomass.definition["default_language"] == "sw"


def test_biomass_top_level_order(biomass: ImportResult) -> None:
    ids = [block["id"] for block in biomass.definition["blocks"]]
    assert ids == [
        "intro",
        "info",
        "location",
        "any_trees",
        "trees",
        "stumps_in_plot",
        "stumps",
        "regen_in_subplot1",
        "subplot1",
        "regen_in_subplot2",
        "subplot2",
        "disturbance",
        "remarks",
    ]


def test_biomass_nested_repeats(biomass_blocks: dict[str, dict[str, Any]]) -> None:
    trees = biomass_blocks["trees"]
    stems = next(child for child in trees["children"] if child["id"] == "stems")
    assert trees["type"] == "repeat"
    assert stems["type"] == "repeat"
    assert [child["id"] for child in stems["children"]] == [
        "tag_1",
        "cbh",
        "tree_photo",
        "health_id",
        "decay_class",
        "stem_height",
        "stem_notes",
    ]


@pytest.mark.parametrize(
    ("repeat", "first_child"),
    [
        ("stumps", "stump_latin_name_id"),
        ("subplot1", "latin_name_id_sp1"),
        ("subplot2", "latin_name_id_sp2"),
    ],
)
def test_biomass_other_repeats(
    biomass_blocks: dict[str, dict[str, Any]], repeat: str, first_child: str
) -> None:
    assert biomass_blocks[repeat]["type"] == "repeat"
    assert biomass_blocks[repeat]["children"][0]["id"] == first_child


def test_biomass_groups_become_sections(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    for group in ("intro", "info", "location"):
        assert biomass_blocks[group]["type"] == "section"


def test_biomass_repeat_count(biomass_blocks: dict[str, dict[str, Any]]) -> None:
    assert biomass_blocks["stems"]["config"] == {"count": "stem_count"}


def test_biomass_labels_in_both_languages(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    assert biomass_blocks["leader_name"]["label"] == {
        "sw": "Jina Lako",
        "en": "Your Name",
    }
    assert biomass_blocks["leader_name"]["hint"] == {
        "sw": "Chagua moja",
        "en": "Choose One",
    }


def test_biomass_options_in_both_languages(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    options = biomass_blocks["monumented"]["config"]["options"]
    assert options == [
        {"value": "yes", "label": {"sw": "Ndiyo", "en": "Yes"}},
        {"value": "no", "label": {"sw": "Hapana", "en": "No"}},
    ]


def test_biomass_select_many(biomass_blocks: dict[str, dict[str, Any]]) -> None:
    disturbance = biomass_blocks["disturbance"]
    values = [option["value"] for option in disturbance["config"]["options"]]
    assert disturbance["type"] == "select_many"
    assert values[:2] == ["burning", "grazing"]
    assert len(values) == 7


BIOMASS_TYPES = {
    "note2": "note",
    "leader_name": "select_one",
    "leader_name_other": "text",
    "canopy_cover": "number",
    "center_point": "geopoint",
    "center_image": "photo",
    "tree_distance": "number",
    "plot_id1": "calculation",
    "tag_1": "calculation",
    "stem_notes": "text",
}


@pytest.mark.parametrize(("name", "block_type"), BIOMASS_TYPES.items())
def test_biomass_block_types(
    biomass_blocks: dict[str, dict[str, Any]], name: str, block_type: str
) -> None:
    assert biomass_blocks[name]["type"] == block_type


def test_biomass_number_kinds(biomass_blocks: dict[str, dict[str, Any]]) -> None:
    assert biomass_blocks["slope"]["config"] == {"kind": "integer"}
    assert biomass_blocks["tree_distance"]["config"] == {"kind": "decimal"}


def test_biomass_relevance_translated(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    assert biomass_blocks["leader_name_other"]["visible_if"] == "leader_name = 'other'"
    assert biomass_blocks["trees"]["visible_if"] == "any_trees = 'yes'"
    assert biomass_blocks["tree_photo"]["visible_if"] == "cbh >= 200"


def test_biomass_required(biomass_blocks: dict[str, dict[str, Any]]) -> None:
    assert biomass_blocks["leader_name"]["required"] is True
    assert "required" not in biomass_blocks["bole_height"]


def test_biomass_required_expression(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    stem_height = biomass_blocks["stem_height"]
    assert stem_height["required_if"] == "health_id = 'dead'"
    assert "required" not in stem_height


def test_biomass_regex_constraint(biomass_blocks: dict[str, dict[str, Any]]) -> None:
    [rule] = biomass_blocks["leader_number"]["rules"]
    assert rule["expression"] == (
        "regex(., '^(([0-9]{1})*[- .(]*([0-9]{3})[- .)]*[0-9]{3}[- .]*[0-9]{4})+$')"
    )
    assert rule["message"] == {
        "sw": "10 digit phone number",
        "en": "10 digit phone number",
    }


def test_biomass_regex_constraint_evaluates(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    [rule] = biomass_blocks["leader_number"]["rules"]
    expression = parse(rule["expression"])
    assert expression.evaluate({".": "071-234-5678"}) is True
    assert expression.evaluate({".": "not a phone"}) is False


def test_biomass_calculations(biomass_blocks: dict[str, dict[str, Any]]) -> None:
    assert biomass_blocks["tag_1"]["config"] == {
        "expression": "tag",
        "result": "number",
    }
    assert biomass_blocks["plot_id1"]["config"] == {
        "expression": "plot_id",
        "result": "text",
    }


def test_biomass_expressions_parse(biomass: ImportResult) -> None:
    sources = list(expressions(biomass))
    assert len(sources) == 23
    for source in sources:
        assert parse(source).source == source


def test_biomass_slope_radius_translated(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    config = biomass_blocks["slope_radius"]["config"]
    assert config["expression"] == "round(15 / sqrt(cos(atan(slope / 100))), 2)"
    assert parse(config["expression"]).evaluate({"slope": 0}) == 15


def test_biomass_slope_radius_corrects_for_slope(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    expression = parse(biomass_blocks["slope_radius"]["config"]["expression"])
    # A 100 % slope is 45 degrees: 15 / sqrt(cos(45 degrees)) = 17.84 m.
    assert str(expression.evaluate({"slope": 100})) == "17.84"


def test_biomass_dependent_calculation_kept(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    config = biomass_blocks["size_constraint"]["config"]
    assert config["expression"] == "if(tree_distance > slope_radius_inner, 15, 6)"


def test_biomass_dependent_constraint_kept(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    [rule] = biomass_blocks["tree_distance"]["rules"]
    assert rule["expression"] == ". < slope_radius"
    assert rule["message"]["en"] == "Check distance. Tree is outside the plot."


def test_biomass_file_select_becomes_text(
    biomass: ImportResult, biomass_blocks: dict[str, dict[str, Any]]
) -> None:
    error, warning = issues_at(biomass, 16)
    assert biomass_blocks["region_id"]["type"] == "text"
    assert (error.sheet, error.column, error.severity) == ("survey", "type", "error")
    assert "'UCL_regions.csv'" in error.message
    assert warning.severity == "warning"
    assert "text question" in warning.message


def test_biomass_file_select_keeps_texts(
    biomass_blocks: dict[str, dict[str, Any]],
) -> None:
    region = biomass_blocks["region_id"]
    assert region["label"] == {"sw": "Mkoa", "en": "Region"}
    assert region["required"] is True


@pytest.mark.parametrize(
    ("row", "name"), [(11, "start"), (12, "end"), (91, "deviceid")]
)
def test_biomass_metadata_skipped(biomass: ImportResult, row: int, name: str) -> None:
    [issue] = issues_at(biomass, row)
    assert name not in blocks_by_id(biomass)
    assert (issue.column, issue.severity) == ("type", "warning")
    assert "device metadata" in issue.message


def test_biomass_image_parameters_warned(biomass: ImportResult) -> None:
    [issue] = issues_at(biomass, 23)
    assert (issue.column, issue.severity) == ("parameters", "warning")
    assert "max-pixels" in issue.message


def test_biomass_label_references_warned(biomass: ImportResult) -> None:
    [issue] = issues_at(biomass, 28)
    assert (issue.column, issue.severity) == ("label", "warning")


def test_biomass_issues_sorted_by_row(biomass: ImportResult) -> None:
    rows = [issue.row or 0 for issue in biomass.issues]
    assert rows == sorted(rows)


def test_biomass_error_count(biomass: ImportResult) -> None:
    assert len(biomass.errors) == 8
    assert len(biomass.warnings) == 17


# widgets.xls and tutorial.xls --------------------------------------------------

WIDGET_TYPES = {
    "my_string": "text",
    "my_int": "number",
    "my_decimal": "number",
    "my_date": "date",
    "my_time": "time",
    "my_select": "select_many",
    "my_select1": "select_one",
    "my_trigger": "boolean",
    "my_output": "text",
    "my_geopoint": "geopoint",
    "my_barcode": "barcode",
    "my_image": "photo",
    "my_audio": "audio",
    "my_video": "video",
    "numberAsString": "text",
    "dateTime": "datetime",
    "spinner": "select_one",
    "spinner_all": "select_many",
    "grid_test": "select_one",
    "table_list_test": "section",
    "table_list_1": "select_one",
    "happy_sad_brian": "select_many",
}


@pytest.fixture(scope="module")
def widgets() -> ImportResult:
    return load("widgets.xls")


@pytest.mark.parametrize(("name", "block_type"), WIDGET_TYPES.items())
def test_widgets_block_types(widgets: ImportResult, name: str, block_type: str) -> None:
    assert blocks_by_id(widgets)[name]["type"] == block_type


def test_widgets_definition_validates(
    widgets: ImportResult, registry: BlockRegistry
) -> None:
    definition = parse_definition(widgets.definition)
    assert validate_definition(definition, registry, ConfigContext()) == []


def test_widgets_untagged_language(widgets: ImportResult) -> None:
    assert widgets.definition["languages"] == []
    assert widgets.definition["default_language"] == "default"
    assert blocks_by_id(widgets)["my_string"]["label"] == {"default": "string widget"}


def test_widgets_number_kinds(widgets: ImportResult) -> None:
    blocks = blocks_by_id(widgets)
    assert blocks["my_int"]["config"] == {"kind": "integer"}
    assert blocks["my_decimal"]["config"] == {"kind": "decimal"}


def test_widgets_datetime_without_offset(widgets: ImportResult) -> None:
    assert blocks_by_id(widgets)["dateTime"]["config"] == {"require_offset": False}


def test_widgets_constraints(widgets: ImportResult) -> None:
    blocks = blocks_by_id(widgets)
    assert blocks["my_decimal"]["rules"] == [
        {
            "expression": ". > 10.51 and . < 18.39",
            "message": {"default": "number must be between 10.51 and 18.39"},
        }
    ]
    assert blocks["my_select"]["rules"][0]["expression"] == (
        "not (selected(., 'c') and selected(., 'd'))"
    )
    assert blocks["my_date"]["rules"][0]["expression"] == ". >= today()"


def test_widgets_defaults_warned(widgets: ImportResult) -> None:
    defaults = [issue for issue in widgets.issues if issue.column == "default"]
    assert [issue.row for issue in defaults] == [4, 5, 7, 8]
    assert all(issue.severity == "warning" for issue in defaults)


def test_widgets_read_only_warned(widgets: ImportResult) -> None:
    [issue] = [issue for issue in widgets.issues if issue.column == "read_only"]
    assert (issue.sheet, issue.row) == ("survey", 10)


def test_widgets_choice_without_label(widgets: ImportResult) -> None:
    options = blocks_by_id(widgets)["happy_sad_brian"]["config"]["options"]
    [issue] = [i for i in issues_at(widgets, 23) if i.column == "label"]
    assert options[0] == {"value": "happy", "label": {"default": "happy"}}
    assert issue.sheet == "choices"


def test_widgets_no_errors(widgets: ImportResult) -> None:
    assert widgets.errors == ()


@pytest.fixture(scope="module")
def tutorial() -> ImportResult:
    return load("tutorial.xls")


TUTORIAL_TYPES = {
    "member": "repeat",
    "name": "text",
    "relationship_to_household_head": "select_one",
    "sex": "select_one",
    "age_in_months": "number",
    "age_in_years": "number",
    "pregnant": "select_one",
}


@pytest.mark.parametrize(("name", "block_type"), TUTORIAL_TYPES.items())
def test_tutorial_block_types(
    tutorial: ImportResult, name: str, block_type: str
) -> None:
    assert blocks_by_id(tutorial)[name]["type"] == block_type


def test_tutorial_repeat_holds_questions(tutorial: ImportResult) -> None:
    [member] = tutorial.definition["blocks"]
    assert len(member["children"]) == 10


def test_tutorial_relevance_and_constraint(tutorial: ImportResult) -> None:
    age = blocks_by_id(tutorial)["age_in_months"]
    assert age["visible_if"] == "older_than_five = 'no'"
    assert age["rules"] == [{"expression": ". <= 72"}]


def test_tutorial_combined_relevance(tutorial: ImportResult) -> None:
    assert blocks_by_id(tutorial)["literate"]["visible_if"] == (
        "sex = 'female' and age_in_years >= 15 and age_in_years <= 49"
    )


def test_tutorial_note_column_not_in_data(tutorial: ImportResult) -> None:
    options = blocks_by_id(tutorial)["relationship_to_household_head"]["config"][
        "options"
    ]
    assert "data" not in options[0]


def test_tutorial_without_issues(tutorial: ImportResult) -> None:
    assert tutorial.issues == ()


def test_tutorial_title_from_filename(tutorial: ImportResult) -> None:
    assert (tutorial.title, tutorial.slug_hint) == ("tutorial", "tutorial")


# Generated workbooks -----------------------------------------------------------


def test_missing_list_becomes_text() -> None:
    result = import_rows(
        [("type", "name", "label"), ("select_one crops", "crop", "Crop")]
    )
    [block] = result.definition["blocks"]
    error, warning = result.issues
    assert block == {"id": "crop", "type": "text", "label": {"default": "Crop"}}
    assert (error.sheet, error.row, error.column) == ("survey", 2, "type")
    assert error.severity == "error"
    assert "'crops'" in error.message
    assert (warning.row, warning.severity) == (2, "warning")


def test_missing_list_with_other_lists() -> None:
    result = import_rows(
        [("type", "name", "label"), ("", "", ""), ("select_multiple crops", "c", "C")],
        choices=[("list_name", "name", "label"), ("animals", "cow", "Cow")],
    )
    assert result.errors[0].row == 3
    assert "not in the choices sheet" in result.errors[0].message


def test_not_a_spreadsheet_raises() -> None:
    with pytest.raises(XLSFormError) as caught:
        import_xlsform(b"%PDF-1.7 not a workbook", "form.pdf")
    assert "'form.pdf' is not an Excel workbook" in str(caught.value)
    assert ".xlsx" in str(caught.value)


def test_empty_file_raises() -> None:
    with pytest.raises(XLSFormError, match="is empty"):
        import_xlsform(b"", "form.xlsx")


def test_zip_without_workbook_raises() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("notes.txt", "hello")
    with pytest.raises(XLSFormError, match="could not be read as a workbook"):
        import_xlsform(archive.getvalue(), "form.xlsx")


def test_damaged_xls_raises() -> None:
    data = (DATA / "widgets.xls").read_bytes()[:3000]
    with pytest.raises(XLSFormError, match="could not be read as a workbook"):
        import_xlsform(data, "widgets.xls")


def test_missing_survey_sheet_raises() -> None:
    data = workbook(
        choices=[("list_name", "name", "label")], settings=[("form_title",), ("x",)]
    )
    with pytest.raises(XLSFormError) as caught:
        import_xlsform(data, "form.xlsx")
    assert "no sheet named 'survey'" in str(caught.value)
    assert "'choices', 'settings'" in str(caught.value)


def test_empty_survey_raises() -> None:
    with pytest.raises(XLSFormError, match="has no questions"):
        import_rows([("type", "name", "label")])


def test_duplicate_header_raises() -> None:
    with pytest.raises(XLSFormError, match="Duplicate column header"):
        import_rows([("type", "name", "name"), ("text", "a", "b")])


def test_settings_title_slug_language() -> None:
    result = import_rows(
        [
            ("type", "name", "label::English (en)", "label::Français"),
            ("text", "a", "A", "Á"),
        ],
        settings=[
            ("form_title", "form_id", "default_language"),
            ("Household Survey", "HH_Survey 2024", "English (en)"),
        ],
    )
    assert result.title == "Household Survey"
    assert result.slug_hint == "hh-survey-2024"
    assert result.definition["languages"] == ["en", "francais"]
    assert result.definition["default_language"] == "en"


def test_default_language_without_texts_listed() -> None:
    result = import_rows(
        [("type", "name"), ("text", "a")],
        settings=[("default_language",), ("Swahili (sw)",)],
    )
    assert result.definition["languages"] == ["sw"]
    assert result.definition["default_language"] == "sw"


def test_untagged_label_uses_default_language() -> None:
    result = import_rows(
        [
            ("type", "name", "label", "label::Swahili (sw)"),
            ("text", "a", "Name", "Jina"),
        ],
        settings=[("default_language",), ("English (en)",)],
    )
    assert result.definition["blocks"][0]["label"] == {"en": "Name", "sw": "Jina"}


QUESTION_TYPES = [
    ("text", "", {"type": "text"}),
    ("text", "multiline", {"type": "textarea"}),
    ("integer", "", {"type": "number", "config": {"kind": "integer"}}),
    ("decimal", "", {"type": "number", "config": {"kind": "decimal"}}),
    ("date", "", {"type": "date"}),
    ("time", "", {"type": "time"}),
    ("dateTime", "", {"type": "datetime", "config": {"require_offset": False}}),
    ("geopoint", "", {"type": "geopoint"}),
    ("image", "", {"type": "photo"}),
    ("image", "signature", {"type": "signature"}),
    ("audio", "", {"type": "audio"}),
    ("video", "", {"type": "video"}),
    ("file", "", {"type": "file"}),
    ("barcode", "", {"type": "barcode"}),
    ("note", "", {"type": "note"}),
    ("acknowledge", "", {"type": "boolean"}),
    ("range", "", {"type": "slider", "config": {"min": 1, "max": 10, "step": 1}}),
]


@pytest.mark.parametrize(("xlsform_type", "appearance", "expected"), QUESTION_TYPES)
def test_question_type_table(
    xlsform_type: str, appearance: str, expected: dict[str, Any]
) -> None:
    result = import_rows(
        [("type", "name", "appearance"), (xlsform_type, "q", appearance or None)]
    )
    [block] = result.definition["blocks"]
    assert block == {"id": "q", **expected}
    assert result.issues == ()


def test_range_parameters() -> None:
    result = import_rows(
        [("type", "name", "parameters"), ("range", "q", "start=0 end=2.5 step=0.5")]
    )
    config = result.definition["blocks"][0]["config"]
    assert config == {"min": 0, "max": "2.5", "step": "0.5"}


@pytest.mark.parametrize(
    ("xlsform_type", "severity"),
    [
        ("geotrace", "error"),
        ("geoshape", "error"),
        ("today", "warning"),
        ("username", "warning"),
    ],
)
def test_skipped_question_types(xlsform_type: str, severity: str) -> None:
    result = import_rows([("type", "name"), (xlsform_type, "q"), ("text", "t")])
    [issue] = result.issues
    assert [block["id"] for block in result.definition["blocks"]] == ["t"]
    assert (issue.row, issue.column, issue.severity) == (2, "type", severity)


def test_hidden_becomes_text_with_warning() -> None:
    result = import_rows([("type", "name"), ("hidden", "h")])
    [issue] = result.issues
    assert result.definition["blocks"] == [{"id": "h", "type": "text"}]
    assert issue.severity == "warning"


def test_unknown_type_becomes_text_with_error() -> None:
    result = import_rows([("type", "name"), ("integr", "n")])
    [issue] = result.issues
    assert result.definition["blocks"] == [{"id": "n", "type": "text"}]
    assert (issue.column, issue.severity) == ("type", "error")
    assert "'integr'" in issue.message


def test_repeat_count_literal() -> None:
    result = import_rows(
        [
            ("type", "name", "repeat_count"),
            ("begin repeat", "visits", "3"),
            ("date", "visit_date", None),
            ("end repeat", None, None),
        ]
    )
    [repeat] = result.definition["blocks"]
    assert repeat["config"] == {"min_rows": 3, "max_rows": 3}
    assert repeat["children"] == [{"id": "visit_date", "type": "date"}]


def test_select_or_other_and_choice_filter() -> None:
    result = import_rows(
        [
            ("type", "name", "choice_filter"),
            ("select_one regions", "region", None),
            ("select_one districts or_other", "district", "region=${region}"),
        ],
        choices=[
            ("list_name", "name", "label", "region"),
            ("regions", "north", "North", None),
            ("districts", "d1", "District 1", "north"),
        ],
    )
    district = blocks_by_id(result)["district"]
    assert district["config"]["allow_other"] is True
    assert district["config"]["choice_filter"] == "option.region = region"
    assert district["config"]["options"] == [
        {"value": "d1", "label": {"default": "District 1"}, "data": {"region": "north"}}
    ]
    assert result.issues == ()


def test_choice_filter_unknown_column_warned() -> None:
    result = import_rows(
        [("type", "name", "choice_filter"), ("select_one crops", "crop", "zone = 'a'")],
        choices=[("list_name", "name", "label"), ("crops", "maize", "Maize")],
    )
    [issue] = result.issues
    assert (issue.row, issue.column, issue.severity) == (2, "choice_filter", "warning")
    assert "'zone'" in issue.message


def test_reference_into_repeat_uses_path() -> None:
    result = import_rows(
        [
            ("type", "name", "calculation"),
            ("begin repeat", "trees", None),
            ("decimal", "dbh", None),
            ("end repeat", None, None),
            ("calculate", "total", "sum(${dbh})"),
        ]
    )
    total = blocks_by_id(result)["total"]
    assert total["config"] == {"expression": "sum(trees.dbh)", "result": "number"}


def test_reference_to_missing_question() -> None:
    result = import_rows(
        [("type", "name", "relevant"), ("text", "a", "${nowhere} = 'x'")]
    )
    [issue] = result.issues
    assert "visible_if" not in result.definition["blocks"][0]
    assert (issue.row, issue.column, issue.severity) == (2, "relevant", "error")
    assert "'nowhere' (no question has this name)" in issue.message


def test_untranslatable_relevance_keeps_block() -> None:
    result = import_rows(
        [("type", "name", "relevant"), ("text", "a", "pulldata('x', 'y', 'z', 1)")]
    )
    [issue] = result.issues
    assert result.definition["blocks"] == [{"id": "a", "type": "text"}]
    assert (issue.sheet, issue.row, issue.column) == ("survey", 2, "relevant")
    assert "pulldata()" in issue.message


def test_required_message_warned() -> None:
    result = import_rows(
        [
            ("type", "name", "required", "required_message"),
            ("text", "a", "yes", "Needed"),
        ]
    )
    [issue] = result.issues
    assert result.definition["blocks"][0]["required"] is True
    assert (issue.column, issue.severity) == ("required_message", "warning")


def test_unclosed_group_reported() -> None:
    result = import_rows([("type", "name"), ("begin group", "g"), ("text", "a")])
    [issue] = result.issues
    assert result.definition["blocks"][0]["children"] == [{"id": "a", "type": "text"}]
    assert (issue.row, issue.severity) == (2, "error")


def test_mismatched_end_reported() -> None:
    result = import_rows(
        [("type", "name"), ("begin group", "g"), ("text", "a"), ("end repeat", None)]
    )
    [issue] = result.issues
    assert (issue.row, issue.column) == (4, "type")
    assert "'end group'" in issue.message


def test_duplicate_name_reported() -> None:
    result = import_rows([("type", "name"), ("text", "a"), ("integer", "a")])
    [issue] = result.issues
    assert (issue.row, issue.column, issue.severity) == (3, "name", "error")
    assert "row 2" in issue.message


def test_row_without_name_skipped() -> None:
    result = import_rows([("type", "label"), ("text", "Question"), ("note", "Hello")])
    [issue] = result.issues
    assert result.definition["blocks"] == [
        {"id": "generated_note_name_3", "type": "note", "label": {"default": "Hello"}}
    ]
    assert (issue.row, issue.column) == (2, "name")


def test_duplicate_choice_skipped() -> None:
    result = import_rows(
        [("type", "name"), ("select_one yn", "q")],
        choices=[
            ("list_name", "name", "label"),
            ("yn", "y", "Yes"),
            ("yn", "y", "Again"),
        ],
    )
    [issue] = result.issues
    assert len(blocks_by_id(result)["q"]["config"]["options"]) == 1
    assert (issue.sheet, issue.row, issue.column) == ("choices", 3, "name")


def test_removed_calculation_reports_once() -> None:
    result = import_rows(
        [
            ("type", "name", "calculation", "relevant"),
            ("integer", "a", None, None),
            ("calculate", "c", "area(${a})", "${nowhere} = 1"),
        ]
    )
    [issue] = result.issues
    assert [block["id"] for block in result.definition["blocks"]] == ["a"]
    assert (issue.row, issue.column) == (3, "calculation")
