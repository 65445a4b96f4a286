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

#[test]
fn the_schema_of_a_job_is_its_sinks_ddl_and_two_sinks_on_one_topic_are_refused() {
    let t = env!("CARGO_BIN_EXE_transformer");
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/jobs/shop.sql");
    let out = std::process::Command::new(t)
        .args(["--job", shop, "--brokers=nowhere:1", "schema", "--clickhouse-version=current"])
        .output()
        .unwrap();
    let ddl = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(ddl.starts_with("CREATE DATABASE IF NOT EXISTS `shop`;"), "{ddl}");
    assert!(ddl.contains("`ordered_at` DateTime64(3, 'UTC')") && ddl.contains("ORDER BY `order_id`"), "{ddl}");
    assert!(ddl.contains("kafka_topic_list = 'big_orders'") && ddl.contains("`big_orders_mv`"), "{ddl}");
    // Two sinks on one topic: after a crash, one's rows would stand for the other's.
    let dir = std::env::temp_dir().join(format!("cli-topics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let job = dir.join("twice.sql");
    std::fs::write(
        &job,
        "CREATE TABLE src (id STRING) WITH ('connector' = 'kafka', 'topic' = 'in', 'format' = 'json');
         CREATE TABLE a (id STRING) WITH ('connector' = 'kafka', 'topic' = 'out', 'format' = 'json');
         CREATE TABLE b (id STRING) WITH ('connector' = 'kafka', 'topic' = 'out', 'format' = 'json');
         EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT id FROM src; INSERT INTO b SELECT id FROM src; END;",
    )
    .unwrap();
    let (code, stderr) = run(t, &["--job", job.to_str().unwrap(), "--brokers=nowhere:1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("the sink a and the sink b both write the topic out"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_job_with_a_mistake_is_refused_with_its_line_and_column() {
    let dir = std::env::temp_dir().join(format!("cli-jobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = env!("CARGO_BIN_EXE_transformer");
    let seed = include_str!("../../job/tests/data/seed-job.sql");
    for (name, sql, says) in [
        (
            "typo.sql",
            seed.replace("`user_id`,\n    -- Пример", "`user_idd`,\n    -- Пример"),
            "typo.sql:41:5: unknown column `user_idd`",
        ),
        (
            "type.sql",
            seed.replace("TO_TIMESTAMP(`timestamp`)", "UPPER(`amount`)"),
            "type.sql:40:11: `amount` is DOUBLE, but a STRING is needed",
        ),
        (
            "join.sql",
            seed.replace("FROM `raw_events_source`;", "FROM `raw_events_source` JOIN t ON true;"),
            "join.sql:44:31: JOIN: not supported",
        ),
        (
            "group.sql",
            seed.replace("FROM `raw_events_source`;", "FROM `raw_events_source` GROUP BY `user_id`;"),
            "GROUP BY, HAVING and aggregates: not supported",
        ),
        (
            "option.sql",
            seed.replacen(
                "'format' = 'json'\n);\n\n--",
                "'format' = 'json',\n  'scan.startup.specific-offsets' = 'x'\n);\n\n--",
                1,
            ),
            "option.sql:19:3: unknown or unsupported option 'scan.startup.specific-offsets' for a Kafka source",
        ),
        ("syntax.sql", seed.replace("SELECT\n", "SELEC\n"), "syntax.sql:36:1: syntax error"),
        ("func.sql", seed.replace("UPPER(REPLACE", "UPPR(REPLACE"), "unknown function UPPR"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &sql).unwrap();
        let (code, stderr) = run(t, &["--job", path.to_str().unwrap(), "--brokers=nowhere:1"]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: wanted {says:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (code, stderr) = run(t, &["--job", dir.join("missing.sql").to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot read the job file"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_job_maps_records_from_a_file_with_no_broker() {
    let dir = std::env::temp_dir().join(format!("cli-run-job-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("records.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"topic":"user_clicks","partition":0,"offset":3,"value":"{\"user_id\":\"u\",\"element_id\":\"btn-1\",\"url\":\"/x\",\"timestamp\":\"2021-02-29 12:30:45.5\"}"}"#,
            "\n",
            r#"{"topic":"orders","partition":1,"offset":4,"value":null}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_transformer"))
        .args(["run-job", "--job", "../job/tests/data/seed-job.sql", "--input", input.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    // Flink's TO_TIMESTAMP moves 2021-02-29 to the 28th, and writes the fraction trimmed.
    assert_eq!(
        lines[0],
        r#"{"sink":"processed_events_sink","source":"user_clicks/0/3","target":"kafka:processed_events","value":"{\"event_type\":\"CLICKS\",\"event_timestamp\":\"2021-02-28 12:30:45.5\",\"user_id\":\"u\",\"details\":\"/x | btn-1\"}"}"#
    );
    assert!(lines[1].contains(r#""reason":"empty_record""#), "{}", lines[1]);
    assert_eq!(lines.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
