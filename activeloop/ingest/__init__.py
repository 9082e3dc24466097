"""Import CSV, JSONL and NumPy files into a pool: readers, the text featurizer, and the importer."""

from activeloop.ingest.featurize import TextFeaturizer
from activeloop.ingest.importer import FileReport, ImportReport, import_file, import_files

__all__ = ["FileReport", "ImportReport", "TextFeaturizer", "import_file", "import_files"]
