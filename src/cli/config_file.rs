//! `--config-file`: gearmand's configuration file, in the format of boost program_options that
//! gearmand reads it with. One `key=value` per line, the key a long option name without its
//! dashes (`port=4730`, `listen=127.0.0.1`, `verbose=INFO`); `#` starts a comment; blank lines
//! are skipped; a switch takes `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`); a
//! repeatable option may appear on several lines. As in boost, the command line wins: an option
//! given there is not taken from the file at all. An unknown key is an error naming the file
//! and the line.
//!
//! The file is turned into `--key=value` arguments appended to the command line, so clap checks
//! its values exactly as it checks the command line's.

use super::Cli;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Parses the process's command line, with the config file if it names one; prints the error
/// and exits (status 2, as clap does) when either is wrong.
pub(crate) fn parse_command_line() -> Cli {
    parse_from(std::env::args_os().collect()).unwrap_or_else(|e| e.exit())
}

/// [`parse_command_line`] for a given argument list (the program name first).
pub(crate) fn parse_from(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
    let mut cmd = Cli::command();
    let m = cmd.try_get_matches_from_mut(argv.clone())?;
    let (serve_m, serve_cmd) = match m.subcommand() {
        Some(("serve", sm)) => (
            sm,
            cmd.find_subcommand("serve")
                .expect("the serve subcommand exists"),
        ),
        Some(_) => return Cli::from_arg_matches(&m),
        None => (&m, &cmd),
    };
    let Some(path) = serve_m.get_one::<PathBuf>("config_file") else {
        return Cli::from_arg_matches(&m);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| raw(format!("cannot read config file {}: {e}", path.display())))?;
    let extra = file_args(&text, path, serve_cmd, serve_m)?;
    let mut all = argv;
    all.extend(extra.into_iter().map(OsString::from));
    let m = Cli::command().try_get_matches_from(all).map_err(|e| {
        // The command line alone parsed, so the file's values are what clap refused.
        raw(format!(
            "in config file {}: {}",
            path.display(),
            e.render()
                .to_string()
                .trim_start_matches("error: ")
                .trim_end()
        ))
    })?;
    Cli::from_arg_matches(&m)
}

fn raw(msg: String) -> clap::Error {
    clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{msg}\n"))
}

/// The arguments a config file stands for, minus the options the command line gave.
fn file_args(
    text: &str,
    path: &Path,
    cmd: &clap::Command,
    given: &ArgMatches,
) -> Result<Vec<String>, clap::Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("config file {} line {}", path.display(), i + 1);
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            return Err(raw(format!(
                "{}: sections are not supported (gearmand's options have none)",
                at()
            )));
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(raw(format!("{}: expected key=value, found {line:?}", at())));
        };
        let (key, value) = (key.trim(), value.trim());
        let Some(arg) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key) && !a.is_positional())
        else {
            return Err(raw(format!("{}: unknown option {key:?}", at())));
        };
        if key == "config-file" {
            return Err(raw(format!("{}: a config file cannot name another", at())));
        }
        if given.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            continue;
        }
        match arg.get_action() {
            ArgAction::SetTrue | ArgAction::Count => {
                let on = parse_bool(value).ok_or_else(|| {
                    raw(format!(
                        "{}: {key} takes true or false, not {value:?}",
                        at()
                    ))
                })?;
                if on {
                    out.push(format!("--{key}"));
                }
            }
            ArgAction::Help | ArgAction::Version => {
                return Err(raw(format!("{}: {key} cannot be set in a file", at())));
            }
            _ => out.push(format!("--{key}={value}")),
        }
    }
    Ok(out)
}

/// boost program_options' spellings of a boolean.
fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], file: &str) -> Result<Cli, clap::Error> {
        let dir = std::env::temp_dir().join(format!("gearlet-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.conf", args.len() * 1000 + file.len()));
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = vec!["gearlet".into()];
        argv.extend(args.iter().map(OsString::from));
        argv.push("--config-file".into());
        argv.push(path.into());
        parse_from(argv)
    }

    #[test]
    fn file_values_apply_and_the_command_line_wins() {
        let cli = parse(
            &["-p", "5000"],
            "# gearmand.conf\nport=4000\n  verbose = INFO  # loud\n\nlisten=127.0.0.2\nlisten=::1\nkeepalive=true\nexceptions=false\n",
        )
        .unwrap();
        let s = &cli.serve;
        assert_eq!(s.port, 5000);
        assert_eq!(s.verbose, "INFO");
        assert_eq!(s.listen, ["127.0.0.2", "::1"]);
        assert!(s.keepalive);
        assert!(!s.exceptions);
    }

    #[test]
    fn the_serve_subcommand_reads_it_too() {
        let dir = std::env::temp_dir().join(format!("gearlet-cfg-sub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.conf");
        std::fs::write(&path, "job-retries=3\n").unwrap();
        let argv: Vec<OsString> = vec![
            "gearlet".into(),
            "serve".into(),
            "--config-file".into(),
            path.into(),
        ];
        let cli = parse_from(argv).unwrap();
        match cli.command {
            Some(super::super::Command::Serve(s)) => assert_eq!(s.job_retries, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let e = parse(&[], "port=1\nbogus=2\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("bogus"), "{e}");
        let e = parse(&[], "daemon\n").unwrap_err().to_string();
        assert!(e.contains("expected key=value"), "{e}");
        let e = parse(&[], "[General]\nport=1\n").unwrap_err().to_string();
        assert!(e.contains("sections"), "{e}");
        let e = parse(&[], "port=many\n").unwrap_err().to_string();
        assert!(e.contains("config file") && e.contains("many"), "{e}");
        let e = parse(&[], "keepalive=maybe\n").unwrap_err().to_string();
        assert!(e.contains("true or false"), "{e}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let argv: Vec<OsString> = ["gearlet", "--config-file", "/nonexistent/gearmand.conf"]
            .iter()
            .map(OsString::from)
            .collect();
        let e = parse_from(argv).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/gearmand.conf"), "{e}");
    }
}
