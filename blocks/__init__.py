"""The block SDK: what a block-type plugin implements and uses.

Plugin authors import from here only; modules with a leading underscore and
everything not listed in ``__all__`` may change without notice.
"""

from blocks.base import (
    BlockRole,
    BlockType,
    ConfigContext,
    FileAccess,
    FileInfo,
    IndexKind,
    RecordAccess,
    SequenceAccess,
    ValueContext,
    text_of,
)
from blocks.definition import Block, Definition, Rule, dump_definition, parse_definition
from blocks.errors import (
    AppgraphError,
    DefinitionError,
    ErrorCode,
    Problem,
    SubmissionError,
    ValueProblem,
)
from blocks.filters import (
    And,
    Compare,
    FieldPath,
    FilterNode,
    ListCompare,
    Not,
    Operand,
    Operator,
    Or,
    WithinRadius,
    all_of,
)
from blocks.types import (
    TypeLibrary,
    compile_geo_filter,
    compile_list_filter,
    compile_presence_filter,
    compile_scalar_filter,
)

__all__ = [
    "And",
    "AppgraphError",
    "Block",
    "BlockRole",
    "BlockType",
    "Compare",
    "ConfigContext",
    "Definition",
    "DefinitionError",
    "ErrorCode",
    "FieldPath",
    "FileAccess",
    "FileInfo",
    "FilterNode",
    "IndexKind",
    "ListCompare",
    "Not",
    "Operand",
    "Operator",
    "Or",
    "Problem",
    "RecordAccess",
    "Rule",
    "SequenceAccess",
    "SubmissionError",
    "TypeLibrary",
    "ValueContext",
    "ValueProblem",
    "WithinRadius",
    "all_of",
    "compile_geo_filter",
    "compile_list_filter",
    "compile_presence_filter",
    "compile_scalar_filter",
    "dump_definition",
    "parse_definition",
    "text_of",
]
