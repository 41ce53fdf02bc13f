//! ha.cf's `builtin_ipaddr on|off`: whether IPaddr/IPaddr2 use the built-in
//! netlink implementation (default) or the resource.d scripts.

mod hacf_common;

use hacf_common::{BASE, ConfigDir, parse};

#[test]
fn builtin_ipaddr_defaults_to_on() {
    let (cfg, d) = parse(BASE);
    assert!(!d.has_errors(), "{d}");
    assert!(cfg.builtin_ipaddr.value);
    assert!(cfg.builtin_ipaddr.is_default());
}

#[test]
fn builtin_ipaddr_takes_on_and_off_with_its_line() {
    for (word, expected) in [("off", false), ("no", false), ("on", true), ("yes", true)] {
        let (cfg, d) = parse(&format!("{BASE}builtin_ipaddr {word}\n"));
        assert!(!d.has_errors(), "{word}: {d}");
        assert_eq!(cfg.builtin_ipaddr.value, expected, "{word}");
        assert_eq!(cfg.builtin_ipaddr.line, Some(4), "{word}");
    }
}

#[test]
fn builtin_ipaddr_rejects_other_values_and_warns_on_repeat() {
    let (_, d) = parse(&format!("{BASE}builtin_ipaddr scripts\n"));
    let errors: Vec<String> = d.errors().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["ha.cf:4: builtin_ipaddr `scripts`: expected on or off (yes/no, true/false, 1/0)"]
    );
    let (cfg, d) = parse(&format!("{BASE}builtin_ipaddr off\nbuiltin_ipaddr on\n"));
    assert!(!d.has_errors(), "{d}");
    assert!(cfg.builtin_ipaddr.value, "the later line wins");
    let warnings: Vec<String> = d.warnings().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("ha.cf:5:")
            && w.contains("builtin_ipaddr")
            && w.contains("line 4")),
        "{warnings:?}"
    );
}

#[test]
fn effective_config_shows_builtin_ipaddr() {
    let dir = ConfigDir::new();
    let text = dir.effective(BASE);
    assert!(text.contains("builtin_ipaddr on  # default\n"), "{text}");
    let text = dir.effective(&format!("{BASE}builtin_ipaddr off\n"));
    assert!(text.contains("builtin_ipaddr off\n"), "{text}");
}
