"""The error hierarchy: library code raises these; the CLI and the API translate them."""


class RagqaError(Exception):
    """Base class of every error ragqa raises on purpose."""


class CorpusError(RagqaError):
    """A corpus file is malformed: the message names the file, the line and the field."""


class ModelNotFoundError(RagqaError):
    """No embedding model could be resolved locally."""


class IndexMissingError(RagqaError):
    """The index directory does not exist or holds no manifest."""


class IndexFormatError(RagqaError):
    """The index on disk does not match what this code or model expects."""


class IndexDamagedError(IndexFormatError):
    """An index file is missing, or its size or SHA-256 differs from what the manifest records."""


class IndexWriteError(RagqaError):
    """The index's folder cannot take a new build: the disk is full, or it is not writable."""


class AdminTokenError(RagqaError):
    """The configured admin token is too short to resist guessing."""


class OverloadedError(RagqaError):
    """The service has more work than it will queue: come back after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidQueryError(RagqaError):
    """A question or search parameter is out of range."""


class DocumentNotFoundError(RagqaError):
    """A document id is not in the index."""


class SuiteError(RagqaError):
    """An eval suite is malformed: the message names the file, the line and the field."""


class EmbedderMismatchError(RagqaError):
    """An embedder cannot be used: its ONNX file fails verification, or it does not fit the index."""
