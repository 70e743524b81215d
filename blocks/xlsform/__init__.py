"""Import of XLSForm spreadsheets (ODK, KoboToolbox, SurveyCTO) as app definitions.

:func:`import_xlsform` reads an .xlsx or .xls workbook and returns a
definition with every question that has a block-type equivalent, plus an
:class:`ImportIssue` for each thing that was not imported as written.
"""

from blocks.xlsform.importer import import_xlsform
from blocks.xlsform.report import ImportIssue, ImportResult, Severity, XLSFormError
from blocks.xlsform.xpath import Translation, XPathTranslationError, translate_xpath

__all__ = [
    "ImportIssue",
    "ImportResult",
    "Severity",
    "Translation",
    "XLSFormError",
    "XPathTranslationError",
    "import_xlsform",
    "translate_xpath",
]
