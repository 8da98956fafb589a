//! A plain number used as a duration that no duration can hold is a `bad_data` error,
//! never a panic: promql-parser's `Duration::from_secs_f64` panics on such numbers, and
//! any reader of the query API or any rule file can send one. The first query is the
//! input the `promql_parse` fuzz target found.

#[test]
fn a_duration_too_long_for_any_clock_is_an_error_not_a_panic() {
    let found_by_fuzzing = format!("ur[{}0 ]", "6".repeat(60));
    for query in [
        found_by_fuzzing.as_str(),
        "up[1e400]",
        "up[5m:1e300]",
        "rate(up[5m])[1e20:1m]",
        "up offset 1e300",
        "up offset -1e300",
        "up[5m] offset inf",
    ] {
        let e = pharos_promql::parse(query).expect_err(query);
        assert_eq!(e.kind, pharos_promql::ErrorType::BadData, "{query}");
        assert!(
            e.message.contains("duration out of range"),
            "{query}: {}",
            e.message
        );
        assert!(e.position.is_some(), "{query}");
    }
    // The lexer refuses names inside brackets and the parser numbers past i64: their own errors.
    for query in [
        "up[Inf]",
        "up[NaN]",
        "up[5m:inf]",
        "up[0x7fffffffffffffffffff]",
    ] {
        let e = pharos_promql::parse(query).expect_err(query);
        assert_eq!(e.kind, pharos_promql::ErrorType::BadData, "{query}");
    }
}

#[test]
fn plain_numbers_as_durations_still_parse() {
    for query in [
        "up[300]",
        "up[1.5]",
        "up[5m:30]",
        "up offset 60",
        "up offset -60",
        "rate(up[300])",
        // Numbers elsewhere may be anything a float holds.
        "up > 1e300",
        "up > Inf",
        "up @ 1700000000",
    ] {
        pharos_promql::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}
