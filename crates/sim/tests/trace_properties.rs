//! The trace reader on arbitrary input: never a panic, every line accounted
//! for exactly once (a record, a malformed line, or skipped), and a record
//! always one the replay can decide.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mcp_policy_evaluator::Evaluator;
use mcp_policy_sim::replay::Replay;
use mcp_policy_sim::trace::TraceReader;
use proptest::prelude::*;

const GITHUB: &str = include_str!("../../../examples/github.mcppolicy");

/// Lines that look like the trace format, mutated: real field names and
/// values mixed with wrong types, broken JSON and stray bytes.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just(r#""method":"tools/call""#.to_owned()),
        Just(r#""method":"resources/read""#.to_owned()),
        Just(r#""method":"prompts/get""#.to_owned()),
        Just(r#""method":"tools/list""#.to_owned()),
        Just(r#""name":"delete_repo""#.to_owned()),
        Just(r#""uri":"repo://a/b""#.to_owned()),
        Just(r#""scopes":"mcp:read github:repos""#.to_owned()),
        Just(r#""scopes":["mcp:admin"]"#.to_owned()),
        Just(r#""scopes":7"#.to_owned()),
        Just(r#""claims":{"scp":["mcp:write"],"sub":"s"}"#.to_owned()),
        Just(r#""claims":{"scope":[1]}"#.to_owned()),
        Just(r#""decision":"allow""#.to_owned()),
        Just(r#""decision":"unauthenticated""#.to_owned()),
        Just(r#""decision":"maybe""#.to_owned()),
        Just(r#""target":"mcp_policy::decision""#.to_owned()),
        Just(r#""target":"other""#.to_owned()),
        Just(r#""listed":3"#.to_owned()),
        Just(r#""subject":"alice""#.to_owned()),
        "\"[a-z]{1,6}\":\"[ -~]{0,8}\"",
    ];
    let object = prop::collection::vec(field, 0..6).prop_map(|fields| {
        let inner = fields.join(",");
        format!("{{{inner}}}")
    });
    let envelope = object
        .clone()
        .prop_map(|fields| format!(r#"{{"target":"mcp_policy::decision","fields":{fields}}}"#));
    // Records the replay decides, in both forms, with optional extras.
    let valid = (
        prop::sample::select(vec![
            r#""method":"tools/call","name":"delete_repo""#,
            r#""method":"tools/call","name":"debug_dump_x""#,
            r#""method":"resources/read","uri":"repo://a/b""#,
            r#""method":"prompts/get","name":"summarize_pr""#,
        ]),
        prop::sample::select(vec![
            r#""scopes":"mcp:read github:repos""#,
            r#""scopes":["mcp:admin"]"#,
            r#""claims":{"scp":["mcp:write"],"sub":"s"}"#,
            r#""scopes":"""#,
        ]),
        prop::sample::select(vec![
            "",
            r#","decision":"allow""#,
            r#","decision":"deny","rule":"default""#,
        ]),
        any::<bool>(),
    )
        .prop_map(|(call, principal, decision, wrapped)| {
            let fields = format!("{{{call},{principal}{decision}}}");
            if wrapped {
                format!(r#"{{"target":"mcp_policy::decision","fields":{fields}}}"#)
            } else {
                fields
            }
        });
    prop_oneof![
        4 => valid.prop_map(String::into_bytes),
        4 => object.prop_map(String::into_bytes),
        2 => envelope.prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|bytes| bytes.into_iter().filter(|b| *b != b'\n').collect()),
        1 => Just(Vec::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_line_is_a_record_an_error_or_skipped(
        lines in prop::collection::vec(line(), 0..30),
        cut in any::<prop::sample::Index>(),
        crlf in any::<bool>(),
    ) {
        let mut trace: Vec<u8> = Vec::new();
        for line in &lines {
            trace.extend_from_slice(line);
            trace.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        // Sometimes the last line is cut short, as a log being written is.
        if !trace.is_empty() && crlf {
            trace.truncate(cut.index(trace.len() + 1));
        }
        let policy = Evaluator::from_source(GITHUB).unwrap();
        let mut replay = Replay::new(&policy);
        let mut reader = TraceReader::new(trace.as_slice());
        let (mut records, mut errors) = (0u64, 0u64);
        let mut last_line = 0;
        for item in reader.by_ref() {
            match item {
                Ok(record) => {
                    prop_assert!(record.line > last_line);
                    last_line = record.line;
                    records += 1;
                    replay.replay(&record);
                }
                Err(error) => {
                    prop_assert!(!error.is_fatal());
                    errors += 1;
                    replay.malformed();
                }
            }
        }
        // Lines end at `\n`; a last line without one counts too.
        let newlines = trace.iter().filter(|b| **b == b'\n').count() as u64;
        let physical = newlines + u64::from(trace.last().is_some_and(|b| *b != b'\n'));
        prop_assert_eq!(reader.lines(), physical);
        prop_assert_eq!(records + errors + reader.skipped(), reader.lines());
        let summary = replay.finish(reader.skipped());
        prop_assert_eq!(summary.totals.calls(), records);
        prop_assert_eq!(summary.malformed, errors);
    }
}
