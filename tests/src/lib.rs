//! End-to-end tests that drive the real forage binary live in tests/tests/.
