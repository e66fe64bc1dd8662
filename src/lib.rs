//! Integration tests and examples of bot-session live in tests/ and examples/.
