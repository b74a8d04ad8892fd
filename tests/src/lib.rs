//! Cross-cutting integration tests live in `tests/tests/`.
