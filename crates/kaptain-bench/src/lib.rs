//! Kaptain's benchmark programs live in `src/bin/` (see `scripts/bench-api.sh`); this crate
//! ships nothing.
