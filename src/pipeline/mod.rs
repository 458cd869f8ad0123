//! Turning rows into calls: the worker pool in per-customer order ([`workers`]) and the rule
//! for what to do with each answer ([`retry`]).

pub(crate) mod retry;
pub(crate) mod workers;
