"""ragqa: extractive, citation-grounded answers over clinical guideline evidence.

The pipeline reads top to bottom in the package: ingest -> index -> retrieve -> answer -> api / evaluation.
"""

__version__ = "0.1.0"
