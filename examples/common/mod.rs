//! Shared by the numbered examples: how `main` reports an error.

use std::process::ExitCode;

/// Exit status for `result`: on an error, its one-line message and causes on
/// stderr (what `main() -> Result<..>` would print as a Debug struct).
pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    let mut line = format!("error: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        line += &format!(": {c}");
        cause = c.source();
    }
    eprintln!("{line}");
    ExitCode::FAILURE
}
