//! Test fixtures (being written).
