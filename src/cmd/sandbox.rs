//! `ccbulk sandbox`: the simulated API on a local port, until Ctrl-C; and `--sandbox` of the
//! other commands, the same API in-process on the same kept tenant.

use crate::cli::{self, SandboxArgs};
use crate::config::{Connect, SetupError};
use crate::exit;
use crate::http::auth::TokenSource;
use crate::sandbox::{self, Sandbox, SandboxConfig};

pub(crate) async fn run(a: SandboxArgs) -> anyhow::Result<i32> {
    if a.reset {
        let path = sandbox::default_path().map_err(SetupError)?;
        let what = if sandbox::reset(&path).map_err(SetupError)? {
            "forgotten: the next run starts afresh"
        } else {
            "not there: the next run starts afresh"
        };
        eprintln!("ccbulk sandbox: the tenant in {} is {what}", path.display());
        return Ok(exit::OK);
    }
    let state = if a.in_memory {
        None
    } else {
        Some(sandbox::default_path().map_err(SetupError)?)
    };
    let config = SandboxConfig {
        latency: a.latency.into(),
        fail_rate: a.fail_rate,
        throttle: a.throttle,
        throttle_kind: a.throttle_kind,
        throttle_headers: a.throttle_headers,
        token_ttl: a.token_ttl.into(),
        seed: a.seed,
        customers: usize::try_from(a.customers).unwrap_or(usize::MAX),
        state,
        ..SandboxConfig::default()
    };
    sandbox::serve_cli(config, a.listen).await?;
    Ok(exit::OK)
}

/// `--sandbox` of update, replay, plan and export: the built-in sandbox on a loopback port,
/// serving the kept tenant, stands in for the API in `connect`, with its own credentials. Says
/// nothing: the caller prints [`banner`] once its own setup succeeded.
pub(crate) async fn stand_in(connect: &mut Connect) -> Result<Sandbox, SetupError> {
    let config = SandboxConfig {
        customers: sandbox::KEPT_CUSTOMERS,
        state: Some(sandbox::default_path().map_err(SetupError)?),
        ..SandboxConfig::default()
    };
    let sb = Sandbox::start(
        config.clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .map_err(|e| SetupError(format!("cannot start the sandbox: {e}")))?;
    connect.base_url = sb.base_url();
    connect.token = TokenSource::Client {
        id: config.client_id,
        secret: secrecy::SecretString::from(config.client_secret),
        token_url: sb.token_url(),
        scope: cli::ENTRA_SCOPE.to_string(),
    };
    Ok(sb)
}

/// The line that says a run is on the sandbox, and which tenant.
pub(crate) fn banner(sb: &Sandbox) -> String {
    format!(
        "ccbulk: using the built-in sandbox at {}, {}",
        sb.base_url(),
        sb.tenant_line()
    )
}
