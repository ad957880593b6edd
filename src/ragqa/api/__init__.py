"""The HTTP service: a thin FastAPI edge over the answer engine, plus the web page it serves."""
