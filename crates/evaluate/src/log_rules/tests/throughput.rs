//! How many lines a second seed 004's rules get through (ignored: run it by hand).

use super::*;

/// `cargo test -p pharos-evaluate --release log_rules_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn log_rules_throughput() {
    let (engine, _sink) = engine_with(SEED_004, Duration::from_secs(15));
    let messages = [
        "Webhook received update_id=981273 from chat 5512",
        "Generation completed for user 42 in 1234 ms",
        "User balance checked",
        "GET /health 200 3.1ms",
        "Slow request detected: /webhook took 812ms",
        "External API timeout, retrying in 2s (attempt 2)",
        "Insufficient balance for user 77",
        "Starting generation job 88123 model=flux-dev prompt_len=120",
    ];
    let levels = [
        Some(LogLevel::Info),
        Some(LogLevel::Warning),
        Some(LogLevel::Error),
        None,
    ];
    let services = ["bot", "worker", "api"];
    let batch_size = 1000;
    let batches: Vec<Vec<LogEntry>> = (0..1000)
        .map(|b| {
            (0..batch_size)
                .map(|i| {
                    let n = b * batch_size + i;
                    let mut e = line(
                        services[n % 3],
                        levels[n % 4],
                        messages[n % messages.len()],
                        (n / 10_000) as i64,
                    );
                    e.logger = Some("app.handlers".into());
                    e
                })
                .collect()
        })
        .collect();
    let started = std::time::Instant::now();
    for (i, b) in batches.iter().enumerate() {
        engine.observe(b);
        if i % 10 == 0 {
            engine.tick(at((i / 10) as i64));
        }
    }
    let took = started.elapsed();
    let lines = batches.len() * batch_size;
    println!(
        "log rules: {lines} lines in {:.3} s = {:.0} lines/s (seed 004 rules: 4 rules, 11 patterns)",
        took.as_secs_f64(),
        lines as f64 / took.as_secs_f64()
    );
}
