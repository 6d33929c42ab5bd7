//! Field-level entry points and error messages.
