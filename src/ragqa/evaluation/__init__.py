"""Evaluate: suites of questions, metrics, reports and benchmarks over the answer contract."""
