"""Ingest: corpus files -> documents -> sentences and chunks with exact character offsets."""
