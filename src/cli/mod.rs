//! The `gearlet` command: the server (`gearlet`, `gearlet serve`) and the shell toolbox
//! (`submit`, `work`, `admin`, `top`). Behind the `cli` feature; `src/bin/gearlet.rs` only calls
//! [`main`]. Each subcommand lives in its own module with its clap arguments beside its code.

use clap::{Parser, Subcommand};

pub mod admin;
pub mod admin_client;
mod config_file;
mod daemon;
pub mod endpoint;
mod log;
pub mod serve;
mod serve_args;
mod serve_store;
pub mod submit;
pub mod tls_client;
pub mod top;
pub mod top_model;
pub mod wire;
pub mod work;
mod work_job;

/// The whole command line. With no subcommand the flags are the server's (gearmand's), so init
/// scripts written for gearmand keep working.
#[derive(Parser, Debug)]
#[command(
    name = "gearlet",
    about = "Gearman job server (gearmand-compatible) and its shell toolbox",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = SERVE_EXAMPLES
)]
pub struct Cli {
    /// The subcommand; none runs the server.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The server's flags when no subcommand is given.
    #[command(flatten)]
    pub serve: serve::ServeArgs,
}

/// Examples at the end of the server's help (`gearlet --help`, `gearlet serve --help`).
const SERVE_EXAMPLES: &str = "\
Examples:
  gearlet                                        # 127.0.0.1:4730, jobs in memory
  gearlet -L 0.0.0.0 --unix /run/gearlet.sock    # every interface and a unix socket
  gearlet --store /var/lib/gearlet/queue.db      # background jobs survive restarts
  gearlet --http 127.0.0.1:9090                  # /metrics, /health and a status page
  gearlet -d -P /run/gearlet.pid -l /var/log/gearlet.log -u gearman

A pipeline with the toolbox (each subcommand's --help has more):
  gearlet work -f wc -- wc -l &
  gearlet submit -f wc < access.log
  gearlet admin --status

Without a store, queued jobs do not survive a restart.";

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the job server (the default when no subcommand is given).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(Box<serve::ServeArgs>),
    /// Submit jobs and print their results (a client, as `gearman -f`).
    Submit(submit::SubmitArgs),
    /// Run a worker: echo, or a command per job (as `gearman -w`).
    Work(work::WorkArgs),
    /// Look at and change a server through the admin protocol (as `gearadmin`).
    Admin(admin::AdminArgs),
    /// A live full-screen view of a server's functions, workers and rates.
    Top(top::TopArgs),
}

/// Parses the command line and runs what it names; returns the process exit status.
pub fn main() -> i32 {
    let cli = config_file::parse_command_line();
    let result = match cli.command {
        None => serve::run(cli.serve).map(|()| 0),
        Some(Command::Serve(a)) => serve::run(*a).map(|()| 0),
        Some(Command::Submit(a)) => submit::run(a),
        Some(Command::Work(a)) => work::run(a),
        Some(Command::Admin(a)) => admin::run(a),
        Some(Command::Top(a)) => top::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gearlet: {e}");
            1
        }
    }
}

/// What a subcommand returns: its exit status, or an error printed as `gearlet: <error>`.
pub type CmdResult = Result<i32, Box<dyn std::error::Error>>;
