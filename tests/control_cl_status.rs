//! `twinbeat cl_status` against canned snapshots: Heartbeat's exact output
//! strings and exit codes.

mod control_common;

use std::path::PathBuf;
use std::time::Duration;

use control_common::snapshot;
use twinbeat::control::ControlError;
use twinbeat::control::cl_status::{
    ClOutput, EXIT_NORMAL_FAIL, EXIT_OK, EXIT_PARAMETER_ERROR, EXIT_TIMEOUT, EXIT_UNKNOWN_ERROR,
    run_cl_status,
};

fn run(args: &[&str]) -> ClOutput {
    let argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_cl_status(&argv, || Ok(snapshot()))
}

fn run_failing(args: &[&str], err: ControlError) -> ClOutput {
    let argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_cl_status(&argv, || Err(err))
}

fn expect(out: &ClOutput, stdout: &str, stderr: &str, exit: i32) {
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.exit),
        (stdout, stderr, exit)
    );
}

fn no_daemon() -> ControlError {
    ControlError::NoDaemon {
        run_dir: PathBuf::from("/run/tb"),
        socket: PathBuf::from("/run/tb/twinbeat.sock"),
    }
}

#[test]
fn hbstatus_running_stopped_and_timeout() {
    expect(
        &run(&["hbstatus"]),
        "Heartbeat is running on this machine.\n",
        "",
        EXIT_OK,
    );
    expect(
        &run_failing(&["hbstatus"], no_daemon()),
        "Heartbeat is stopped on this machine.\n",
        "",
        EXIT_NORMAL_FAIL,
    );
    let out = run_failing(
        &["hbstatus"],
        ControlError::Timeout {
            what: "waiting for the daemon's answer",
            after: Duration::from_secs(3),
        },
    );
    assert_eq!(out.exit, EXIT_TIMEOUT);
    assert_eq!(out.stdout, "");
    let out = run_failing(
        &["hbstatus", "-v"],
        ControlError::Daemon {
            message: "busy".into(),
        },
    );
    expect(
        &out,
        "Heartbeat is apparently running on this machine, but refuses my connection\n\
         (the daemon refused the request: busy)\n",
        "",
        EXIT_OK,
    );
}

#[test]
fn hbstatus_verbose_lists_nodes_and_links() {
    let out = run(&["hbstatus", "-v"]);
    assert_eq!(out.exit, EXIT_OK);
    let version = env!("CARGO_PKG_VERSION");
    let links = "\teth0\tup\n\t/dev/ttyS0\tdead\n";
    assert_eq!(
        out.stdout,
        format!(
            "version:\t{version}\nmanaged by:\t\"haresources\"\n\
             \nalpha\tactive\t(nodetype: normal)\n{links}\
             \nbeta\tactive\t(nodetype: normal)\n{links}\
             \ngamma\tdead\t(nodetype: normal)\n{links}"
        )
    );
}

#[test]
fn listnodes_and_its_filters() {
    expect(&run(&["listnodes"]), "alpha\nbeta\ngamma\n", "", EXIT_OK);
    expect(
        &run(&["listnodes", "-n"]),
        "alpha\nbeta\ngamma\n",
        "",
        EXIT_OK,
    );
    // No ping nodes in a twinbeat snapshot.
    expect(&run(&["listnodes", "-p"]), "", "", EXIT_OK);
    // Both filters cancel out, as in Heartbeat.
    expect(
        &run(&["listnodes", "-p", "-n"]),
        "alpha\nbeta\ngamma\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["listnodes", "-pn"]),
        "alpha\nbeta\ngamma\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["listnodes", "-m"]),
        "The nodes are as follow:\nalpha\nbeta\ngamma\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["listnodes", "-x"]),
        "",
        "listnodes: invalid option -- 'x'\n",
        EXIT_PARAMETER_ERROR,
    );
}

#[test]
fn nodestatus_of_active_dead_unknown_and_missing_node() {
    expect(&run(&["nodestatus", "beta"]), "active\n", "", EXIT_OK);
    expect(&run(&["nodestatus", "alpha"]), "active\n", "", EXIT_OK);
    expect(
        &run(&["nodestatus", "gamma"]),
        "dead\n",
        "",
        EXIT_NORMAL_FAIL,
    );
    // Heartbeat lowercases node names.
    expect(&run(&["nodestatus", "BETA"]), "active\n", "", EXIT_OK);
    expect(
        &run(&["nodestatus", "beta", "-m"]),
        "The cluster node beta is active\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["nodestatus", "delta"]),
        "",
        "Error. May be due to incorrect node name\n",
        EXIT_PARAMETER_ERROR,
    );
    expect(
        &run(&["nodestatus"]),
        "",
        "Not enough parameters.\n",
        EXIT_PARAMETER_ERROR,
    );
}

#[test]
fn listhblinks_prints_interface_names() {
    expect(
        &run(&["listhblinks", "beta"]),
        "\teth0\n\t/dev/ttyS0\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["listhblinks", "-v", "beta"]),
        "\teth0\tup\n\t/dev/ttyS0\tdead\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["listhblinks", "-m", "alpha"]),
        "\tthis node has the following heartbeat links:\n\teth0\n\t/dev/ttyS0\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["listhblinks"]),
        "",
        "No enough parameter.\n",
        EXIT_PARAMETER_ERROR,
    );
    expect(
        &run(&["listhblinks", "delta"]),
        "",
        "cl_status: ERROR: Cannot start heartbeat link interface walk.\n\
         cl_status: ERROR: REASON: unknown node delta\n",
        EXIT_UNKNOWN_ERROR,
    );
}

#[test]
fn hblinkstatus_up_dead_and_unknown() {
    expect(&run(&["hblinkstatus", "beta", "eth0"]), "up\n", "", EXIT_OK);
    expect(
        &run(&["hblinkstatus", "beta", "/dev/ttyS0"]),
        "dead\n",
        "",
        EXIT_NORMAL_FAIL,
    );
    expect(
        &run(&["hblinkstatus", "-m", "beta", "eth0"]),
        "The node beta's heartbeat link eth0 is up\n",
        "",
        EXIT_OK,
    );
    expect(
        &run(&["hblinkstatus", "beta"]),
        "",
        "No enough parameter.\n",
        EXIT_PARAMETER_ERROR,
    );
    expect(
        &run(&["hblinkstatus", "beta", "eth9"]),
        "",
        "cl_status: ERROR: Cannot get heartbeat link status\n\
         cl_status: ERROR: REASON: node beta has no heartbeat link eth9\n",
        EXIT_UNKNOWN_ERROR,
    );
    expect(
        &run(&["hblinkstatus", "delta", "eth0"]),
        "",
        "cl_status: ERROR: Cannot get heartbeat link status\n\
         cl_status: ERROR: REASON: unknown node delta\n",
        EXIT_UNKNOWN_ERROR,
    );
}

#[test]
fn link_state_follows_the_snapshot() {
    let mut changed = snapshot();
    changed.links[0].state = "dead".into();
    changed.links[1].state = "up".into();
    let out = run_cl_status(
        &["hblinkstatus".into(), "beta".into(), "eth0".into()],
        || Ok(changed.clone()),
    );
    expect(&out, "dead\n", "", EXIT_NORMAL_FAIL);
    let out = run_cl_status(
        &["hblinkstatus".into(), "beta".into(), "/dev/ttyS0".into()],
        || Ok(changed),
    );
    expect(&out, "up\n", "", EXIT_OK);
}

#[test]
fn daemon_not_running_fails_subcommands_that_need_it() {
    for sub in [
        &["listnodes"][..],
        &["nodestatus", "beta"],
        &["listhblinks", "beta"],
        &["hblinkstatus", "beta", "eth0"],
    ] {
        let out = run_failing(sub, no_daemon());
        expect(
            &out,
            "",
            "cl_status: ERROR: Cannot signon with heartbeat\n\
             cl_status: ERROR: REASON: no twinbeat daemon is running with run dir /run/tb \
             (no socket at /run/tb/twinbeat.sock)\n",
            EXIT_NORMAL_FAIL,
        );
    }
}

#[test]
fn bad_subcommands_are_parameter_errors() {
    expect(
        &run(&["nodes"]),
        "",
        "cl_status: ERROR: nodes: invalid sub-command.\n",
        EXIT_PARAMETER_ERROR,
    );
    let out = run(&["nodeweight", "alpha"]);
    assert_eq!(out.exit, EXIT_PARAMETER_ERROR);
    assert!(
        out.stderr
            .starts_with("cl_status: ERROR: nodeweight: sub-command not provided")
    );
}

#[test]
fn rscstatus_says_what_this_node_holds() {
    expect(&run(&["rscstatus"]), "local\n", "", 0);
    let out = run_failing(&["rscstatus"], no_daemon());
    assert_eq!(out.exit, 1, "no daemon: {out:?}");
}
