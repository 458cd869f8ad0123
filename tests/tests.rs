//! Integration tests: one binary; each module drives the real `ccbulk` binary against a sandbox or
//! a mock server on loopback and asserts on results files, requests received and exit codes.

mod cli;
mod common;
mod connect;
mod docs;
mod excel;
mod export;
mod hostile;
mod input_props;
mod kept_sandbox;
mod messages;
mod network;
mod newcomer;
mod pacing;
mod pipeline;
mod plan_undo;
mod printed;
mod resume;
mod resume_check;
mod review_b;
mod sandbox_shapes;
mod seams;
mod spreadsheets;
mod streams;
mod terminal;
mod unattended;
mod workbooks;
