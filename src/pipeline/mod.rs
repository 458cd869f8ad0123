//! Turning rows into calls. For now only the retry rule lives here ([`retry`]); the worker pool
//! is still `dispatch.rs`.

pub(crate) mod retry;
