//! Exit codes (docs/reference.md, "Exit codes").

pub const OK: i32 = 0;
pub const SOME_FAILED: i32 = 1;
pub const SETUP: i32 = 2;
pub const STOPPED: i32 = 3;
pub const INTERRUPTED: i32 = 130;
