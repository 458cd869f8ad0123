//! ccbulk: update the account info of many CloudCockpit customers from one spreadsheet.

pub mod customer;
pub mod rate;
pub mod sandbox;
