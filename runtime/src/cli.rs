//! Reading the command line and the environment into a binary's typed config, and running a binary's main loop.
//!
//! One rule on top of clap's: **an environment variable that is set but empty counts as unset.** Compose passes a
//! knob the user did not set as `NAME: ${NAME:-}`, i.e. empty, and a deployment template often does the same; the
//! user means "the default", as librdkafka's tools and most Kafka images read it. Without this rule clap would try to
//! parse `""` (`SECURITY_PROTOCOL=` → "invalid value ''") and the binary would not start.

use clap::{Command, Parser};

/// Parses `T` from the process's arguments and environment, with empty variables treated as unset. Call it before
/// any thread is started (it edits the environment), as the binaries' `main` does before building the runtime.
pub fn parse<T: Parser>() -> T {
    parse_from(std::env::args_os())
}

/// [`parse`] from the arguments `args` (the first is the program's name).
pub fn parse_from<T: Parser, I: IntoIterator<Item = A>, A: Into<std::ffi::OsString> + Clone>(args: I) -> T {
    parse_given_from(args).0
}

/// [`parse`], and the ids of the top-level arguments the user gave (on the command line or in the environment),
/// as opposed to those left at their defaults: where a default comes from somewhere else too (a job file's
/// options), what the user gave wins and the rest may be filled in.
pub fn parse_given<T: Parser>() -> (T, std::collections::BTreeSet<String>) {
    parse_given_from(std::env::args_os())
}

/// [`parse_given`] from the arguments `args`.
pub fn parse_given_from<T: Parser, I: IntoIterator<Item = A>, A: Into<std::ffi::OsString> + Clone>(
    args: I,
) -> (T, std::collections::BTreeSet<String>) {
    for name in env_names(&T::command()) {
        if std::env::var_os(&name).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(&name);
        }
    }
    let matches = T::command().get_matches_from(args);
    let given = matches
        .ids()
        .filter(|id| {
            matches!(
                matches.value_source(id.as_str()),
                Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
            )
        })
        .map(|id| id.as_str().to_owned())
        .collect();
    match T::from_arg_matches(&matches) {
        Ok(t) => (t, given),
        Err(e) => e.exit(),
    }
}

/// Every environment variable the arguments of `cmd` and its subcommands read.
fn env_names(cmd: &Command) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = cmd.get_arguments().filter_map(|a| a.get_env().map(|e| e.to_os_string())).collect();
    for sub in cmd.get_subcommands() {
        names.extend(env_names(sub));
    }
    names
}

/// Runs `main_loop` on a multi-threaded tokio runtime and gives the process's exit code: 0, or 1 with the error
/// logged as "`program` stopped". (Configuration errors exit 2 before this, as clap's own do.)
pub fn run<T, E: std::fmt::Display>(
    program: &str,
    main_loop: impl std::future::Future<Output = Result<T, E>>,
) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_loop) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "{program} stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(Parser)]
    struct Flags {
        #[arg(long, env = "CLI_TEST_MODE", default_value = "plain", value_parser = ["plain", "tls"])]
        mode: String,
        #[command(subcommand)]
        sub: Option<Sub>,
    }

    #[derive(clap::Subcommand)]
    enum Sub {
        Show {
            #[arg(long, env = "CLI_TEST_SUB_LIMIT", default_value_t = 5)]
            limit: u32,
        },
    }

    #[test]
    fn tells_given_arguments_from_defaults() {
        // No environment variable here: the other tests set theirs while this one runs.
        #[derive(Parser)]
        struct Plain {
            #[arg(long, default_value = "plain")]
            mode: String,
            #[arg(long, default_value_t = 1)]
            level: u32,
        }
        let (flags, given): (Plain, _) = parse_given_from(["t", "--mode", "tls"]);
        assert_eq!((flags.mode.as_str(), flags.level), ("tls", 1));
        assert!(given.contains("mode") && !given.contains("level"));
    }

    #[test]
    fn finds_the_variables_of_every_subcommand() {
        let names = env_names(&Flags::command());
        assert_eq!(names, ["CLI_TEST_MODE", "CLI_TEST_SUB_LIMIT"]);
    }

    #[test]
    fn an_empty_variable_means_the_default_and_a_set_one_still_counts() {
        // The only test that touches these two variables (tests run on threads, but none other reads them).
        std::env::set_var("CLI_TEST_MODE", "");
        assert!(Flags::try_parse_from(["t"]).is_err(), "clap alone refuses the empty value");
        let flags: Flags = parse_from(["t"]);
        assert_eq!(flags.mode, "plain");
        assert!(std::env::var_os("CLI_TEST_MODE").is_none());
        std::env::set_var("CLI_TEST_MODE", "tls");
        let flags: Flags = parse_from(["t"]);
        assert_eq!(flags.mode, "tls");
        std::env::remove_var("CLI_TEST_MODE");
    }
}
