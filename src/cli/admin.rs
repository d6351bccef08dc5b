//! `gearlet admin`: not written yet (issue #14).

use super::CmdResult;

/// Arguments of `gearlet admin`.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct AdminArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Everything else, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Runs `gearlet admin`.
pub fn run(_args: AdminArgs) -> CmdResult {
    Err("not implemented yet".into())
}
