"""Plain helpers of the tests (no fixtures, no tests): imported by test modules and conftest files."""
