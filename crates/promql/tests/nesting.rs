//! Queries nested deeper than the evaluator's recursion can take on a server worker's
//! stack are refused at parse time, with a `bad_data` error, instead of aborting the
//! process (`/api/v1/query?query=((((…1))))` with 5,000 parentheses did; found by
//! `crates/pharos/tests/hostile_http.rs`).

use pharos_promql::{MAX_NESTING, parse};

#[test]
fn deeply_nested_queries_are_refused_not_evaluated_into_a_stack_overflow() {
    for q in [
        format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000)),
        format!("{}up{}", "abs(".repeat(1_000), ")".repeat(1_000)),
        format!("{}up{}", "sum(".repeat(1_000), ")".repeat(1_000)),
        vec!["up"; 5_000].join(" + "),
    ] {
        let e = parse(&q).expect_err("refused");
        assert!(e.message.contains("nested deeper"), "{}", e.message);
    }
}

#[test]
fn queries_nested_within_the_limit_still_parse() {
    let calls = MAX_NESTING / 8;
    parse(&format!("{}up{}", "abs(".repeat(calls), ")".repeat(calls))).unwrap();
    // A long `or` chain is a left-deep tree of binary operators, each cheap to evaluate.
    parse(&vec!["sum(rate(up[5m]))"; 200].join(" or ")).unwrap();
}
