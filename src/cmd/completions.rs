//! `ccbulk completions <SHELL>`: a completion script generated from the clap definitions, so it
//! never drifts from the options the binary accepts.

use clap::CommandFactory;

use crate::cli::Cli;

/// The completion script for `shell`. Generated into memory: clap_complete panics when its
/// writer fails (a closed pipe), and this way a write error is an ordinary error.
pub fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ccbulk", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_shell_gets_a_script_naming_every_command() {
        for shell in clap_complete::Shell::value_variants() {
            let text = String::from_utf8(script(*shell)).unwrap();
            for name in ["update", "replay", "plan", "sandbox", "completions", "man"] {
                assert!(text.contains(name), "{shell}: {name} missing");
            }
            assert!(text.contains("summary-json"), "{shell}");
        }
    }
}
