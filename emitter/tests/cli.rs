//! The command line as an interface: nonsense is refused at start with exit 2 (clap's convention for usage errors)
//! and a message that says what is valid; an environment variable set but empty counts as unset. Needs no server.

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_emitter")).args(args).envs(env.iter().copied()).output();
    let out = out.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn nonsense_is_refused_with_exit_2_and_what_is_valid() {
    for (args, says) in [
        (&["--brokers", "kafka"][..], "has no port: write host:port"),
        (&["--batch-size", "0"], "--batch-size"),
        (&["--malformed-ratio", "1.5"], "--malformed-ratio must be between 0.0 and 1.0"),
        (&["--list-ids"], "--list-ids needs --total"),
        (&["--list-ids", "--total", "3"], "--list-ids needs --start-time"),
        (&["--security-protocol", "tls"], "possible values: plaintext, ssl, sasl_plaintext, sasl_ssl"),
        (&["--security-protocol", "sasl_plaintext"], "--sasl-mechanism"),
        (&["--no-such-flag"], "unexpected argument"),
    ] {
        let (code, _, stderr) = run(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: wanted {says:?} in {stderr}");
    }
}

#[test]
fn an_empty_environment_variable_means_the_default() {
    let list = ["--list-ids", "--total", "3", "--seed", "1", "--start-time", "2026-01-01T00:00:00Z"];
    let (code, stdout, stderr) = run(&list, &[("SECURITY_PROTOCOL", "tls")]);
    assert_eq!(code, Some(2), "a set variable still counts: {stderr}");
    let empty =
        [("SECURITY_PROTOCOL", ""), ("SASL_MECHANISM", ""), ("SSL_CA_LOCATION", ""), ("PRODUCER_BATCH_SIZE", "")];
    let (code, stdout_empty, stderr) = run(&list, &empty);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout_empty.lines().count(), 3, "{stdout_empty}");
    let (_, stdout_unset, _) = run(&list, &[]);
    assert_eq!(stdout_empty, stdout_unset);
    assert!(stdout.is_empty());
}
