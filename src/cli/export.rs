//! The options of `ccbulk export`: what to list and where to write it; the connection and
//! report options are update's own, flattened.

use clap::{Args, ValueEnum};

use super::connection::ConnectionArgs;
use super::heading::*;
use super::report::ReportArgs;

/// The list call's documented search fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SearchField {
    #[value(name = "Company.Name")]
    CompanyName,
    #[value(name = "Domain")]
    Domain,
    #[value(name = "InternalIdentifier")]
    InternalIdentifier,
    #[value(name = "ProviderCustomerId")]
    ProviderCustomerId,
}

impl SearchField {
    /// The value of the `searchField` parameter.
    pub fn wire(self) -> &'static str {
        match self {
            SearchField::CompanyName => "Company.Name",
            SearchField::Domain => "Domain",
            SearchField::InternalIdentifier => "InternalIdentifier",
            SearchField::ProviderCustomerId => "ProviderCustomerId",
        }
    }
}

/// Options of `ccbulk export`: where to write, what to list, and update's connection options.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// List only the customers whose FIELD matches --search-value (as the API matches it).
    #[arg(long, value_enum, value_name = "FIELD", requires = "search_value", help_heading = LIST)]
    pub search_field: Option<SearchField>,

    /// The value to search for in --search-field.
    #[arg(long, value_name = "V", requires = "search_field", help_heading = LIST)]
    pub search_value: Option<String>,

    /// List only the customers of this reseller.
    #[arg(long, value_name = "GUID", help_heading = LIST)]
    pub reseller_id: Option<uuid::Uuid>,

    #[command(flatten)]
    pub conn: ConnectionArgs,

    /// Where to write the CSV (- for standard output).
    #[arg(
        long,
        short = 'o',
        value_name = "PATH",
        default_value = "customers.csv",
        help_heading = OUTPUT
    )]
    pub output: String,

    /// Replace an existing output file.
    #[arg(long, help_heading = OUTPUT)]
    pub overwrite: bool,

    #[command(flatten)]
    pub report: ReportArgs,
}
