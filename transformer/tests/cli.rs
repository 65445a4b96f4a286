//! The command line as an interface: nonsense is refused at start with exit 2 (clap's convention for usage errors)
//! and a message that says what is valid. Needs no server.

fn run(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(bin).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn nonsense_is_refused_with_exit_2_and_the_valid_range() {
    let t = env!("CARGO_BIN_EXE_transformer");
    for (args, says) in [
        (&["--brokers", "kafka"][..], "has no port: write host:port"),
        (&["--brokers", "kafka:0"], "1..65535"),
        (&["--max-record-bytes", "0"], "--max-record-bytes must be at least 1"),
        (&["--output-max-message-bytes", "100"], "--output-max-message-bytes must be at least 16384"),
        (&["--health-max-age-secs", "0"], "--health-max-age-secs must be at least 1"),
        (&["--instance", "2", "--instances", "2"], "must be below --instances 2"),
        (&["--on-offset-out-of-range", "latest"], "possible values: earliest, fail"),
        (&["offsets", "reset", "--to", "yesterday"], "expected earliest, latest, an RFC 3339 time"),
        (&["--no-such-flag"], "unexpected argument"),
    ] {
        let (code, stderr) = run(t, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: wanted {says:?} in {stderr}");
    }
}

#[test]
fn the_schema_subcommand_prints_the_ddl_without_a_server() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_transformer"))
        .args(["--brokers=nowhere:1", "--output-topic=out", "schema", "--clickhouse-version=current", "--database=d"])
        .output()
        .unwrap();
    let ddl = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(ddl.contains("CREATE TABLE IF NOT EXISTS d.events_processed"), "{ddl}");
    assert!(ddl.contains("kafka_broker_list = 'nowhere:1'") && ddl.contains("kafka_topic_list = 'out'"), "{ddl}");
    assert!(ddl.contains("kafka_flush_interval_ms = 500"), "{ddl}");
}
