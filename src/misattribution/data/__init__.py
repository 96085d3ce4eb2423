"""AttriData: the schema, validation, annotation aggregation and agreement, the builder and the sample."""

from misattribution.data.agreement import (
    agreement_report,
    category_kappas,
    fleiss_kappa,
    misattribution_kappa,
    score_kappa,
)
from misattribution.data.build import (
    PAPER_TEST_SIZE,
    BuildResult,
    aggregate,
    build_attridata,
    normalize_question,
    read_annotations,
    split_train_test,
)
from misattribution.data.importers import ImportResult, ZipLimits, import_clear, import_prometheus
from misattribution.data.sample import build_sample, load_sample, sample_paths
from misattribution.data.schema import COLUMNS, SCHEMA_VERSION, attridata_features
from misattribution.data.validate import DataValidationError, Problem, ValidationReport, validate_rows

__all__ = [
    "COLUMNS",
    "PAPER_TEST_SIZE",
    "SCHEMA_VERSION",
    "BuildResult",
    "DataValidationError",
    "ImportResult",
    "Problem",
    "ValidationReport",
    "ZipLimits",
    "agreement_report",
    "aggregate",
    "attridata_features",
    "build_attridata",
    "build_sample",
    "category_kappas",
    "fleiss_kappa",
    "import_clear",
    "import_prometheus",
    "load_sample",
    "misattribution_kappa",
    "normalize_question",
    "read_annotations",
    "sample_paths",
    "score_kappa",
    "split_train_test",
    "validate_rows",
]
