"""Index: embeddings, BM25 and FAISS over the chunks, stored as a directory of plain files."""
