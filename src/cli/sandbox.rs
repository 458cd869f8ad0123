//! The options of `ccbulk sandbox`, the local simulated API.

use clap::Args;

use crate::rate::Rate;

/// Options of `ccbulk sandbox`.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// Delay added to every API answer.
    #[arg(long, default_value = "0ms")]
    pub latency: humantime::Duration,

    /// Fraction (0 to 1) of calls answered 500 or 503.
    #[arg(long, default_value = "0")]
    pub fail_rate: f64,

    /// Answer 429 with Retry-After above this rate (N/s, N/min, N/h), GET, PATCH and list
    /// calls together.
    #[arg(long, value_name = "RATE")]
    pub throttle: Option<Rate>,

    /// The shape of the --throttle limit: bucket (a token bucket holding one second's worth,
    /// starting full), window (RATE's count per its period, windows back to back; Retry-After to
    /// the window's end), sliding (RATE's count in any span of its period).
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        default_value = "bucket",
        requires = "throttle"
    )]
    pub throttle_kind: crate::sandbox::Shape,

    /// Say what is left of the --throttle limit in every answer: X-RateLimit-Limit,
    /// X-RateLimit-Remaining, X-RateLimit-Reset (seconds from now), RateLimit-Policy and RateLimit.
    #[arg(long, requires = "throttle")]
    pub throttle_headers: bool,

    /// Lifetime of issued tokens.
    #[arg(long, default_value = "3599s")]
    pub token_ttl: humantime::Duration,

    /// Seed for the simulated faults and the made-up customers' ids.
    #[arg(long, default_value = "0")]
    pub seed: u64,

    /// Make up N customers for the list call (internal identifiers ERP-000001 and on) when the
    /// tenant is new.
    #[arg(long, value_name = "N", default_value = "50",
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub customers: u64,

    /// Serve a tenant kept in memory only, made up afresh: the kept tenant is neither read nor
    /// changed.
    #[arg(long)]
    pub in_memory: bool,

    /// Forget the kept tenant (every change --sandbox runs and this server made to it) and exit:
    /// the next run starts afresh.
    #[arg(long, conflicts_with = "in_memory")]
    pub reset: bool,
}
