//! The evaluators' own metrics, exposed on `/metrics`.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct ProbeMetrics {
    pub probes: IntCounterVec,
    pub probe_failures: IntCounterVec,
    pub schedule_lateness: HistogramVec,
    pub probe_duration: HistogramVec,
    pub state_changes: IntCounterVec,
}

impl ProbeMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<ProbeMetrics> {
        let probes = IntCounterVec::new(
            Opts::new(
                "pharos_probes_total",
                "Checks run, by monitor type and outcome.",
            ),
            &["type", "outcome"],
        )?;
        let probe_failures = IntCounterVec::new(
            Opts::new(
                "pharos_probe_failures_total",
                "Checks that found the target down, by monitor type.",
            ),
            &["type"],
        )?;
        let schedule_lateness = HistogramVec::new(
            HistogramOpts::new(
                "pharos_probe_schedule_lateness_seconds",
                "How late a check started after its scheduled time.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["type"],
        )?;
        let probe_duration = HistogramVec::new(
            HistogramOpts::new("pharos_probe_duration_seconds", "How long checks took.").buckets(
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            ),
            &["type"],
        )?;
        let state_changes = IntCounterVec::new(
            Opts::new(
                "pharos_monitor_state_changes_total",
                "Monitor state changes, by new state.",
            ),
            &["state"],
        )?;
        registry.register(Box::new(probes.clone()))?;
        registry.register(Box::new(probe_failures.clone()))?;
        registry.register(Box::new(schedule_lateness.clone()))?;
        registry.register(Box::new(probe_duration.clone()))?;
        registry.register(Box::new(state_changes.clone()))?;
        Ok(ProbeMetrics {
            probes,
            probe_failures,
            schedule_lateness,
            probe_duration,
            state_changes,
        })
    }
}
