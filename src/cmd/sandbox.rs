//! `ccbulk sandbox`: the simulated API on a local port, until Ctrl-C.

use crate::cli::SandboxArgs;
use crate::exit;
use crate::sandbox::{self, SandboxConfig};

pub(crate) async fn run(a: SandboxArgs) -> anyhow::Result<i32> {
    let config = SandboxConfig {
        latency: a.latency.into(),
        fail_rate: a.fail_rate,
        throttle: a.throttle,
        throttle_kind: a.throttle_kind,
        throttle_headers: a.throttle_headers,
        token_ttl: a.token_ttl.into(),
        seed: a.seed,
        customers: usize::try_from(a.customers).unwrap_or(usize::MAX),
        ..SandboxConfig::default()
    };
    sandbox::serve_cli(config, a.listen).await?;
    Ok(exit::OK)
}
