//! ha.cf's `cpu_latency auto|off|TIME`: the CPU wake-up latency the daemon
//! asks of the kernel (PM QoS) while it runs.

mod hacf_common;

use std::time::Duration;

use hacf_common::{BASE, ConfigDir, parse};
use twinbeat::config::hacf::CpuLatency;

#[test]
fn auto_by_default_which_asks_for_polling_only_in_the_millisecond_regime() {
    let (cfg, d) = parse(BASE);
    assert!(!d.has_errors(), "{d}");
    assert_eq!(cfg.cpu_latency.value, CpuLatency::Auto);
    assert!(cfg.cpu_latency.is_default());
    let ms = Duration::from_millis;
    assert_eq!(
        CpuLatency::Auto.requested(ms(1), true),
        Some(Duration::ZERO)
    );
    assert_eq!(
        CpuLatency::Auto.requested(ms(10), true),
        Some(Duration::ZERO)
    );
    assert_eq!(
        CpuLatency::Auto.requested(ms(11), true),
        None,
        "above 10 ms"
    );
    assert_eq!(
        CpuLatency::Auto.requested(ms(30_000), true),
        None,
        "Heartbeat's default"
    );
    assert_eq!(
        CpuLatency::Auto.requested(ms(1), false),
        None,
        "realtime off"
    );
    // Given explicitly, it holds whatever the timings.
    assert_eq!(CpuLatency::Off.requested(ms(1), true), None);
    assert_eq!(
        CpuLatency::Bound(Duration::from_micros(20)).requested(ms(30_000), false),
        Some(Duration::from_micros(20))
    );
}

#[test]
fn takes_auto_off_and_times_with_its_line() {
    for (word, expected) in [
        ("auto", CpuLatency::Auto),
        ("off", CpuLatency::Off),
        ("0", CpuLatency::Bound(Duration::ZERO)),
        ("20us", CpuLatency::Bound(Duration::from_micros(20))),
        ("1ms", CpuLatency::Bound(Duration::from_millis(1))),
    ] {
        let (cfg, d) = parse(&format!("{BASE}cpu_latency {word}\n"));
        assert!(!d.has_errors(), "{word}: {d}");
        assert_eq!(cfg.cpu_latency.value, expected, "{word}");
        assert_eq!(cfg.cpu_latency.line, Some(4), "{word}");
    }
}

#[test]
fn rejects_other_values_naming_the_line_and_warns_on_repeat() {
    for bad in ["fast", "-1", "3600"] {
        let (cfg, d) = parse(&format!("{BASE}cpu_latency {bad}\n"));
        let errors: Vec<String> = d.errors().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert!(
            errors[0].starts_with("ha.cf:4: cpu_latency"),
            "{bad}: {errors:?}"
        );
        assert_eq!(cfg.cpu_latency.value, CpuLatency::Auto, "{bad}: unchanged");
    }
    let (cfg, d) = parse(&format!("{BASE}cpu_latency off\ncpu_latency 0\n"));
    assert!(!d.has_errors(), "{d}");
    assert_eq!(cfg.cpu_latency.value, CpuLatency::Bound(Duration::ZERO));
    let warnings: Vec<String> = d.warnings().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("ha.cf:5:")
            && w.contains("cpu_latency")
            && w.contains("line 4")),
        "{warnings:?}"
    );
}

#[test]
fn effective_config_shows_the_setting_and_what_it_resolves_to() {
    let dir = ConfigDir::new();
    let text = dir.effective(BASE);
    assert!(text.contains("cpu_latency auto  # default\n"), "{text}");
    assert!(
        text.contains("# cpu_latency: the daemon makes no request\n"),
        "{text}"
    );

    let text = dir.effective(&format!(
        "{BASE}keepalive 100us\ndeadtime 1ms\nwarntime 500us\n"
    ));
    assert!(
        text.contains(
            "# cpu_latency: the daemon asks for CPU wake-ups within 0 µs while it runs\n"
        ),
        "{text}"
    );

    let text = dir.effective(&format!(
        "{BASE}keepalive 100us\ndeadtime 1ms\nwarntime 500us\ncpu_latency off\n"
    ));
    assert!(text.contains("cpu_latency off\n"), "{text}");
    assert!(
        text.contains("# cpu_latency: the daemon makes no request\n"),
        "{text}"
    );
}
