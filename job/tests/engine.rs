//! Jobs beyond the two the transformer ships, through the whole engine (parse → plan → map → Flink's JSON): several
//! sinks and routing, statement sets, UNION ALL, views, computed columns, metadata, JSON_VALUE's full syntax,
//! CAST failures as dead letters, the NOT NULL enforcer, and refusals with their positions.

use job::{Outcome, Plan, Record};

fn plan(sql: &str) -> Plan {
    Plan::new("test.sql", sql).unwrap_or_else(|e| panic!("{e}"))
}

fn run(plan: &Plan, topic: &str, value: &str) -> Vec<Outcome> {
    let rec = Record {
        topic,
        partition: 2,
        offset: 7,
        timestamp_ms: 1_623_760_245_123,
        key: Some(b"k-1"),
        value: Some(value.as_bytes()),
        headers: None,
    };
    plan.map_owned(&rec, 1 << 20, 0)
}

/// A record at `offset` of partition 0 of `topic`, without key or timestamp.
fn record<'a>(topic: &'a str, offset: usize, value: &'a str) -> Record<'a> {
    Record {
        topic,
        partition: 0,
        offset: offset as i64,
        timestamp_ms: 0,
        key: None,
        value: Some(value.as_bytes()),
        headers: None,
    }
}

fn rows(out: &[Outcome]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|o| match o {
            Outcome::Row { sink, json } => Some((sink.clone(), json.clone())),
            _ => None,
        })
        .collect()
}

const SOURCE: &str = "CREATE TABLE src (
  `timestamp` STRING, user_id STRING, amount DOUBLE, qty INT, attrs STRING,
  `topic` STRING METADATA VIRTUAL, `partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL,
  ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', k STRING METADATA FROM 'key' VIRTUAL,
  big_amount AS amount > 100
) WITH ('connector' = 'kafka', 'topic' = 'orders;user_clicks', 'format' = 'json');
";

#[test]
fn a_statement_set_routes_one_read_to_several_sinks() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE TABLE big (user_id STRING NOT NULL, amount DECIMAL(10, 2), src STRING)
          WITH ('connector' = 'kafka', 'topic' = 'big_orders', 'format' = 'json');
        CREATE TABLE everything (user_id STRING, kind STRING, n BIGINT)
          WITH ('connector' = 'kafka', 'topic' = 'all_events', 'format' = 'json');
        EXECUTE STATEMENT SET BEGIN
          INSERT INTO big SELECT user_id, CAST(amount AS DECIMAL(10, 2)), CONCAT(`topic`, '/', CAST(`partition` AS STRING), '/', CAST(`offset` AS STRING))
            FROM src WHERE `topic` = 'orders' AND big_amount;
          INSERT INTO everything (user_id, kind) SELECT user_id, 'order' FROM src WHERE `topic` = 'orders'
            UNION ALL SELECT user_id, 'click' FROM src WHERE `topic` = 'user_clicks';
        END;"
    ));
    assert_eq!(p.sources.len(), 1, "one source, read once");
    assert_eq!(p.sinks.iter().map(|s| s.topic().unwrap_or_default()).collect::<Vec<_>>(), ["big_orders", "all_events"]);
    let out = run(&p, "orders", r#"{"user_id":"u","amount":250.125,"timestamp":"x"}"#);
    assert_eq!(
        rows(&out),
        [
            ("big".to_owned(), r#"{"user_id":"u","amount":250.13,"src":"orders/2/7"}"#.to_owned()),
            ("everything".to_owned(), r#"{"user_id":"u","kind":"order","n":null}"#.to_owned()),
        ]
    );
    let out = run(&p, "orders", r#"{"user_id":"u","amount":5}"#);
    assert_eq!(rows(&out).len(), 1, "only the routing INSERT takes a small order: {out:?}");
    let out = run(&p, "user_clicks", r#"{"user_id":"v"}"#);
    assert_eq!(rows(&out), [("everything".to_owned(), r#"{"user_id":"v","kind":"click","n":null}"#.to_owned())]);
}

#[test]
fn a_failure_in_one_sink_is_a_dead_letter_for_that_sink_only() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE TABLE strict (user_id STRING NOT NULL, q INT) WITH ('connector' = 'kafka', 'topic' = 'a', 'format' = 'json');
        CREATE TABLE lax (user_id STRING, q INT) WITH ('connector' = 'kafka', 'topic' = 'b', 'format' = 'json');
        INSERT INTO strict SELECT user_id, CAST(attrs AS INT) FROM src;
        INSERT INTO lax SELECT user_id, TRY_CAST(attrs AS INT) FROM src;"
    ));
    let out = run(&p, "orders", r#"{"user_id":"u","attrs":"not a number"}"#);
    assert_eq!(rows(&out), [("lax".to_owned(), r#"{"user_id":"u","q":null}"#.to_owned())]);
    let dead: Vec<_> = out
        .iter()
        .filter_map(|o| if let Outcome::Dead { sink, error } = o { Some((sink.clone(), error.clone())) } else { None })
        .collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0.as_deref(), Some("strict"));
    assert_eq!(dead[0].1.reason(), "cast_error");
    assert!(dead[0].1.to_string().contains("CAST(attrs AS INT) (line 10)"), "{}", dead[0].1);
    // A NULL in a NOT NULL column: a dead letter naming the column, or with DROP, counted and dropped.
    let out = run(&p, "orders", r#"{"attrs":"7"}"#);
    assert!(
        matches!(&out[0], Outcome::Dead { sink: Some(s), error } if s == "strict" && error.reason() == "missing_field"),
        "{out:?}"
    );
    let dropping = plan(&format!(
        "SET 'table.exec.sink.not-null-enforcer' = 'DROP';
        {SOURCE}
        CREATE TABLE strict (user_id STRING NOT NULL) WITH ('connector' = 'kafka', 'topic' = 'a', 'format' = 'json');
        INSERT INTO strict SELECT UPPER(user_id) FROM src;"
    ));
    assert!(matches!(&run(&dropping, "orders", r#"{"x":1}"#)[..], [Outcome::Dropped { sink }] if sink == "strict"));
    // The same for a column that passes a source column through (read in place, not computed).
    let passing = |enforcer: &str| {
        plan(&format!(
            "SET 'table.exec.sink.not-null-enforcer' = '{enforcer}';
            {SOURCE}
            CREATE TABLE strict (n INT, user_id STRING NOT NULL, k STRING) WITH ('connector' = 'kafka', 'topic' = 'a', 'format' = 'json');
            INSERT INTO strict SELECT 1, user_id, k FROM src;"
        ))
    };
    assert!(
        matches!(&run(&passing("DROP"), "orders", r#"{"x":1}"#)[..], [Outcome::Dropped { sink }] if sink == "strict")
    );
    let out = run(&passing("ERROR"), "orders", r#"{"x":1}"#);
    assert!(
        matches!(&out[..], [Outcome::Dead { sink: Some(s), error }] if s == "strict" && error.to_string().contains("user_id")),
        "{out:?}"
    );
    let out = run(&passing("ERROR"), "orders", r#"{"user_id":"u"}"#);
    assert_eq!(rows(&out), [("strict".to_owned(), r#"{"n":1,"user_id":"u","k":"k-1"}"#.to_owned())]);
}

#[test]
fn views_computed_columns_metadata_and_functions() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE VIEW orders_only AS SELECT user_id AS who, amount, ts, k, attrs FROM src WHERE `topic` = 'orders';
        CREATE TABLE out (who STRING, cents BIGINT, at TIMESTAMP_LTZ(3), k STRING, day STRING, tag STRING, n INT, flag BOOLEAN)
          WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT
          UPPER(who), CAST(ROUND(amount * 100, 0) AS BIGINT), ts, k, DATE_FORMAT(ts, 'yyyy/MM/dd'),
          CASE WHEN amount BETWEEN 0 AND 10 THEN 'small' WHEN amount IN (11, 12) THEN 'odd' ELSE LPAD('x', 3, '-') END,
          JSON_VALUE(attrs, '$.n' RETURNING INT DEFAULT -1 ON EMPTY NULL ON ERROR),
          who LIKE 'a%' AND NOT who IS NULL
        FROM orders_only;"
    ));
    let out = run(&p, "orders", r#"{"user_id":"ab","amount":12.345,"attrs":"{\"m\":1}"}"#);
    assert_eq!(
        rows(&out),
        [("out".to_owned(), r#"{"who":"AB","cents":1235,"at":"2021-06-15 12:30:45.123Z","k":"k-1","day":"2021/06/15","tag":"--x","n":-1,"flag":true}"#.to_owned())]
    );
    let out = run(&p, "orders", r#"{"user_id":"b","amount":11,"attrs":"{\"n\":42}"}"#);
    assert!(rows(&out)[0].1.contains(r#""tag":"odd","n":42,"flag":false"#), "{out:?}");
    assert!(run(&p, "user_clicks", r#"{"user_id":"c"}"#).is_empty(), "the view's WHERE holds");
    let strict = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (n INT) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT JSON_VALUE(attrs, '$.n' RETURNING INT ERROR ON ERROR) FROM src;"
    ));
    let out = run(&strict, "orders", r#"{"attrs":"{\"n\":\"many\"}"}"#);
    assert!(matches!(&out[..], [Outcome::Dead { error, .. }] if error.reason() == "eval_error"), "{out:?}");
    // A typed NULL, as Flink writes one.
    let typed_null = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (n BIGINT, s STRING) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT CAST(NULL AS BIGINT), COALESCE(CAST(NULL AS STRING), user_id) FROM src;"
    ));
    assert_eq!(rows(&run(&typed_null, "orders", r#"{"user_id":"u"}"#))[0].1, r#"{"n":null,"s":"u"}"#);
}

#[test]
fn what_is_not_supported_is_refused_with_its_position() {
    let sink = "CREATE TABLE out (a STRING) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');\n";
    for (query, at, says) in [
        ("INSERT INTO out SELECT user_id FROM src GROUP BY user_id;", (13, 17), "GROUP BY"),
        ("INSERT INTO out SELECT UPPER(amount) FROM src;", (13, 30), "amount is DOUBLE, but a STRING is needed"),
        ("INSERT INTO out SELECT nope FROM src;", (13, 24), "unknown column `nope`"),
        ("INSERT INTO out SELECT User_Id FROM src;", (13, 24), "did you mean `user_id`"),
        ("INSERT INTO out SELECT user_id FROM src ORDER BY 1;", (13, 17), "ORDER BY"),
        ("INSERT INTO out SELECT COUNT(*) FROM src;", (13, 24), "aggregate"),
        ("INSERT INTO out SELECT user_id, user_id FROM src;", (13, 1), "gives 2 columns, and out takes 1"),
        ("INSERT INTO out SELECT qty FROM src;", (13, 24), "CAST it"),
        ("INSERT INTO missing SELECT user_id FROM src;", (13, 13), "unknown table missing"),
    ] {
        let sql = format!("{SOURCE}{sink}\n\n\n\n\n{query}");
        let e = Plan::new("job.sql", &sql).expect_err(query);
        assert_eq!((e.pos.line, e.pos.column), at, "{query}: {e}");
        assert!(e.to_string().contains(says), "{query}: {e}");
    }
}

/// Writes each row as the Kafka sink does, through one [`job::Scratch`] kept from record to record (the pipeline's
/// way), so what a record leaves in it can be seen in the next.
struct Rows(Vec<Outcome>, Vec<String>);

impl job::Emit for Rows {
    fn row(&mut self, sink: usize, row: job::Row<'_>) -> Result<u64, job::MapError> {
        let mut json = Vec::new();
        row.write_json(&mut json);
        let json = String::from_utf8(json).expect("UTF-8");
        self.0.push(Outcome::Row { sink: self.1[sink].clone(), json });
        Ok(0)
    }
    fn dead_letter(&mut self, sink: Option<usize>, error: job::MapError) {
        self.0.push(Outcome::Dead { sink: sink.map(|s| self.1[s].clone()), error });
    }
    fn dropped(&mut self, sink: usize) {
        self.0.push(Outcome::Dropped { sink: self.1[sink].clone() });
    }
}

/// Expressions over the topic alone are computed once per topic: one scratch over records whose topic changes
/// gives what a fresh mapping of each record gives; a failing one fails only the rows that evaluate it.
#[test]
fn expressions_over_the_topic_alone_follow_the_topic() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (kind STRING, tagged STRING, n INT, is_order BOOLEAN, at BIGINT)
          WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT
          UPPER(REPLACE(`topic`, 'user_', '')),
          CONCAT(LOWER(`topic`), ':', user_id),
          CASE WHEN qty > 0 THEN CAST(`topic` AS INT) ELSE qty END,
          `topic` = 'orders',
          UNIX_TIMESTAMP() - UNIX_TIMESTAMP()
        FROM src WHERE `topic` <> 'user_clicks' OR qty IS NULL;"
    ));
    let names = vec!["out".to_owned()];
    let mut scratch = job::Scratch::default();
    let records = [
        ("orders", r#"{"user_id":"a","qty":0}"#),
        ("user_clicks", r#"{"user_id":"b"}"#),
        ("user_clicks", r#"{"user_id":"c","qty":0}"#),
        ("orders", r#"{"user_id":"d","qty":-1}"#),
        ("orders", r#"{"user_id":"e","qty":3}"#),
        ("user_clicks", r#"{"user_id":"f"}"#),
    ];
    let mut shared = Vec::new();
    for (i, (topic, value)) in records.iter().enumerate() {
        let rec = record(topic, i, value);
        let mut rows = Rows(Vec::new(), names.clone());
        p.map_with(&mut scratch, 0, &rec, 1 << 20, 1_000 * i as i64, &mut rows);
        assert_eq!(rows.0, p.map_owned(&rec, 1 << 20, 1_000 * i as i64), "record {i}");
        shared.extend(rows.0);
    }
    let texts: Vec<String> = shared
        .iter()
        .map(|o| match o {
            Outcome::Row { json, .. } => json.clone(),
            Outcome::Dead { error, .. } => error.reason().to_owned(),
            Outcome::Dropped { .. } => "dropped".to_owned(),
        })
        .collect();
    assert_eq!(
        texts,
        [
            r#"{"kind":"ORDERS","tagged":"orders:a","n":0,"is_order":true,"at":0}"#,
            r#"{"kind":"CLICKS","tagged":"user_clicks:b","n":null,"is_order":false,"at":0}"#,
            r#"{"kind":"ORDERS","tagged":"orders:d","n":-1,"is_order":true,"at":0}"#,
            "cast_error",
            r#"{"kind":"CLICKS","tagged":"user_clicks:f","n":null,"is_order":false,"at":0}"#,
        ]
    );
}

/// A string a record computes (CONCAT_WS builds it in a buffer the last record's value gave back, see
/// `expr::Spare`) holds that record's text only: long, short, empty and NULL parts in turn through one scratch give
/// what a fresh mapping of each record gives.
#[test]
fn computed_strings_do_not_carry_over_from_record_to_record() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (joined STRING, again STRING)
          WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT CONCAT_WS(' | ', user_id, CAST(qty AS STRING)), CONCAT_WS('-', `topic`, user_id) FROM src;"
    ));
    let names = vec!["out".to_owned()];
    let mut scratch = job::Scratch::default();
    let long = "x".repeat(300);
    let records = [
        format!(r#"{{"user_id":"{long}","qty":12}}"#),
        r#"{"user_id":"b"}"#.to_owned(),
        r#"{"qty":3}"#.to_owned(),
        r#"{}"#.to_owned(),
        r#"{"user_id":"","qty":0}"#.to_owned(),
    ];
    let mut joined = Vec::new();
    for (i, value) in records.iter().enumerate() {
        let rec = record("orders", i, value);
        let mut rows = Rows(Vec::new(), names.clone());
        p.map_with(&mut scratch, 0, &rec, 1 << 20, 0, &mut rows);
        assert_eq!(rows.0, p.map_owned(&rec, 1 << 20, 0), "record {i}");
        joined.extend(rows.0.into_iter().map(|o| match o {
            Outcome::Row { json, .. } => json,
            other => panic!("{other:?}"),
        }));
    }
    assert_eq!(joined[0], format!(r#"{{"joined":"{long} | 12","again":"orders-{long}"}}"#));
    assert_eq!(
        joined[1..],
        [
            r#"{"joined":"b","again":"orders-b"}"#,
            r#"{"joined":"3","again":"orders"}"#,
            r#"{"joined":"","again":"orders"}"#,
            r#"{"joined":" | 0","again":"orders-"}"#,
        ]
    );
}

#[test]
fn json_query_in_a_job_with_wrappers_and_behaviours() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (obj STRING, wrapped STRING, cond STRING, scalar STRING, empty STRING, items STRING)
          WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT
          JSON_QUERY(attrs, '$.a'),
          JSON_QUERY(attrs, '$.a.n' WITH WRAPPER),
          JSON_QUERY(attrs, '$.list' WITH CONDITIONAL ARRAY WRAPPER),
          JSON_QUERY(attrs, '$.a.n' WITHOUT ARRAY WRAPPER NULL ON EMPTY),
          JSON_QUERY(attrs, 'lax $.nope' EMPTY OBJECT ON EMPTY),
          JSON_QUERY(attrs, '$.list[*].c' RETURNING STRING)
        FROM src;"
    ));
    let attrs = r#"{\"a\":{\"n\":1.50,\"s\":\"x\"},\"list\":[{\"c\":1},{\"c\":2}]}"#;
    let out = run(&p, "orders", &format!(r#"{{"attrs":"{attrs}"}}"#));
    assert_eq!(
        rows(&out)[0].1,
        r#"{"obj":"{\"n\":1.5,\"s\":\"x\"}","wrapped":"[1.5]","cond":"[{\"c\":1},{\"c\":2}]","scalar":null,"empty":"{}","items":"[1,2]"}"#
    );
    let strict = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (s STRING) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT JSON_QUERY(attrs, 'strict $.a' ERROR ON ERROR) FROM src;"
    ));
    let out = run(&strict, "orders", r#"{"attrs":"{\"a\":7}"}"#);
    assert!(matches!(&out[..], [Outcome::Dead { error, .. }] if error.reason() == "eval_error"), "{out:?}");
    // RETURNING ARRAY<STRING>: an ARRAY column, each element as text.
    let array = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (items ARRAY<STRING>, n INT) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT JSON_QUERY(attrs, '$.list[*].c' RETURNING ARRAY<STRING>),
          CARDINALITY(JSON_QUERY(attrs, '$.list' RETURNING ARRAY<STRING>)) FROM src;"
    ));
    let out = run(&array, "orders", &format!(r#"{{"attrs":"{attrs}"}}"#));
    assert_eq!(rows(&out)[0].1, r#"{"items":["1","2"],"n":2}"#);
    let e = Plan::new(
        "job.sql",
        &format!(
            "{SOURCE}
        CREATE TABLE out (s ARRAY<STRING>) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT JSON_QUERY(attrs, '$.a' RETURNING ARRAY<STRING> EMPTY OBJECT ON EMPTY) FROM src;"
        ),
    )
    .expect_err("EMPTY OBJECT is no array");
    assert!(e.to_string().contains("EMPTY OBJECT is not an ARRAY<STRING>"), "{e}");
}

/// ROW, ARRAY and MAP columns: read from nested JSON as Flink's format reads them, taken apart with `row.field`,
/// `array[i]`, `map['key']` and CARDINALITY, built with ARRAY[…], MAP[…] and ROW(…), and written back as Flink's
/// JSON writes them; a part that does not convert is a dead letter naming it.
#[test]
fn nested_rows_arrays_and_maps_are_read_taken_apart_built_and_written() {
    let p = plan(
        "CREATE TABLE src (
           id BIGINT,
           items ARRAY<ROW<sku STRING, qty INT NOT NULL, price DECIMAL(10, 2)>>,
           attrs MAP<STRING, STRING>,
           customer ROW(name STRING, address ROW<city STRING, zip STRING>),
           tags ARRAY<STRING>,
           seen ARRAY<TIMESTAMP(3)>
         ) WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');
         CREATE TABLE out (
           id BIGINT, first_sku STRING, n INT, city STRING, color STRING, missing STRING, beyond STRING,
           tags ARRAY<STRING>, customer ROW<name STRING, address ROW<city STRING, zip STRING>>,
           attrs MAP<STRING, STRING>, made ARRAY<BIGINT>, pair ROW<a INT, b STRING>, m MAP<STRING, INT>,
           seen ARRAY<TIMESTAMP(3)>
         ) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
         INSERT INTO out SELECT id, items[1].sku, CARDINALITY(items), customer.address.city, attrs['color'],
           attrs['size'], tags[3], tags, customer, attrs, ARRAY[1, id], ROW(1, 'x'), MAP['a', 1, 'b', 2, 'a', 3], seen
         FROM src;",
    );
    let value = r#"{"id": 7, "items": [{"sku": "A-1", "qty": "2", "price": 9.999}, {"qty": 1}],
        "attrs": {"color": "red", "n": 5}, "customer": {"address": {"zip": "10115", "city": "Berlin"}, "name": "Ada"},
        "tags": ["x", null], "seen": ["2024-05-01 10:00:00.250", null]}"#;
    let out = run(&p, "orders", value);
    assert_eq!(
        rows(&out),
        [(
            "out".to_string(),
            concat!(
                r#"{"id":7,"first_sku":"A-1","n":2,"city":"Berlin","color":"red","missing":null,"beyond":null,"#,
                r#""tags":["x",null],"customer":{"name":"Ada","address":{"city":"Berlin","zip":"10115"}},"#,
                r#""attrs":{"color":"red","n":"5"},"made":[1,7],"pair":{"a":1,"b":"x"},"m":{"a":3,"b":2},"#,
                r#""seen":["2024-05-01 10:00:00.25",null]}"#
            )
            .to_string()
        )]
    );
    // A part that does not convert: the record is a dead letter naming the part.
    let out = run(&p, "orders", r#"{"id": 1, "items": [{"qty": 1}, {"qty": "many"}]}"#);
    let [Outcome::Dead { error, .. }] = &out[..] else { panic!("{out:?}") };
    assert!(error.to_string().contains("items[2].qty"), "{error}");
    // The wrong kind of JSON for a nested column.
    let out = run(&p, "orders", r#"{"id": 1, "customer": [1]}"#);
    let [Outcome::Dead { error, .. }] = &out[..] else { panic!("{out:?}") };
    assert!(error.to_string().contains("customer") && error.to_string().contains("an object"), "{error}");
    // What the planner refuses, with its position.
    for (sql, says) in [
        ("SELECT id[1] FROM src", "[ ] reads an ARRAY or a MAP"),
        ("SELECT tags['a'] FROM src", "an integer is needed"),
        ("SELECT customer.nope FROM src", "has no field nope"),
        ("SELECT tags = tags FROM src", "is not supported"),
        ("SELECT CARDINALITY(id) FROM src", "CARDINALITY counts"),
        ("SELECT CAST(tags AS STRING) FROM src", "cannot cast ARRAY<STRING> to STRING"),
    ] {
        let e = Plan::new(
            "job.sql",
            &format!(
                "CREATE TABLE src (id BIGINT, tags ARRAY<STRING>, customer ROW<name STRING>)
                   WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');
                 CREATE TABLE out (x STRING) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
                 INSERT INTO out {sql};"
            ),
        )
        .expect_err(sql);
        assert!(e.to_string().contains(says), "{sql}: {e}");
    }
    let e = Plan::new(
        "job.sql",
        "CREATE TABLE src (m MAP<INT, STRING>) WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');",
    )
    .expect_err("map keys");
    assert!(e.to_string().contains("keys are strings"), "{e}");
}

/// The `headers` metadata: a MAP<STRING, BYTES> of the record's headers (or MAP<STRING, STRING>, read as UTF-8), an
/// empty map for a record without headers; read with `headers['name']`.
#[test]
fn the_headers_metadata_is_a_map_of_the_records_headers() {
    let p = plan(
        "CREATE TABLE src (id BIGINT, h MAP<STRING, STRING> METADATA FROM 'headers' VIRTUAL,
           `headers` MAP<STRING, BYTES> METADATA)
         WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');
         CREATE TABLE out (id BIGINT, trace STRING, raw BYTES, n INT, h MAP<STRING, STRING>)
         WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
         INSERT INTO out SELECT id, h['trace-id'], `headers`['bin'], CARDINALITY(`headers`), h FROM src;",
    );
    let headers: job::map::Headers =
        [("trace-id".to_string(), b"abc".to_vec()), ("bin".to_string(), vec![0xff, 0x00])].into_iter().collect();
    let rec = |headers| Record {
        topic: "orders",
        partition: 0,
        offset: 1,
        timestamp_ms: 0,
        key: None,
        value: Some(br#"{"id": 5}"#),
        headers,
    };
    assert_eq!(
        rows(&p.map_owned(&rec(Some(&headers)), 1 << 20, 0)),
        [(
            "out".to_string(),
            // A header that is not UTF-8, read as STRING: U+FFFD for the byte that is not (Jackson writes it as is).
            "{\"id\":5,\"trace\":\"abc\",\"raw\":\"/wA=\",\"n\":2,\"h\":{\"bin\":\"\u{FFFD}\\u0000\",\"trace-id\":\"abc\"}}"
                .to_string()
        )]
    );
    assert_eq!(
        rows(&p.map_owned(&rec(None), 1 << 20, 0)),
        [("out".to_string(), r#"{"id":5,"trace":null,"raw":null,"n":0,"h":{}}"#.to_string())]
    );
    let e = Plan::new(
        "job.sql",
        "CREATE TABLE src (h MAP<STRING, INT> METADATA FROM 'headers')
         WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');",
    )
    .expect_err("headers of INT");
    assert!(e.to_string().contains("metadata 'headers' is MAP<STRING, BYTES NOT NULL>"), "{e}");
}
