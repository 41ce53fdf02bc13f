//! Resource groups run through fake scripts in temp dirs that record their
//! argv. Nothing here touches a real interface, mount or service.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use twinbeat::config::{Diagnostics, Resource, ResourceGroup, haresources};
use twinbeat::resources::{
    Action, Agent, Dispatch, Failure, GroupExecutor, GroupOp, GroupOutcome, GroupPolicy, LineSink,
    Outcome, ResourceState, ScriptAgent, ScriptEnv, ScriptLogging, ScriptSearch, StopRetry, Stream,
    SubmitError, Timeouts, start_group, stop_group,
};

const SEED_LINE: &str =
    "node1 IPaddr::192.168.60.200/24/eth0/ Filesystem::/dev/sdb5::/webdata::ext3 httpd tomcat";

/// Records its name and argv; start/stop flip a marker file; status reports it.
/// `NAME.failstart` / `NAME.failstop` in the state dir make start / stop fail.
const RECORDING_SCRIPT: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >> "$TB_RECORD"
for a in "$@"; do last=$a; done
case $last in
  start) [ -e "$TB_STATE/$name.failstart" ] && { echo "$name: cannot start" >&2; exit 1; }
         touch "$TB_STATE/$name.on";;
  stop)  [ -e "$TB_STATE/$name.failstop" ] && exit 1
         rm -f "$TB_STATE/$name.on";;
  status) if [ -e "$TB_STATE/$name.on" ]; then echo "$name is running"; else echo "$name is not running"; fi;;
esac
exit 0
"#;

/// Collects every logged line.
#[derive(Default)]
struct Collect {
    lines: Mutex<Vec<(String, Stream, String, bool)>>,
}

impl LineSink for Collect {
    fn line(&self, tag: &str, stream: Stream, line: &str, truncated: bool) {
        let mut lines = self.lines.lock().unwrap();
        // Keep memory bounded under the flood test.
        if lines.len() < 1000 || truncated {
            lines.push((tag.to_string(), stream, line.to_string(), truncated));
        }
    }
}

struct Rig {
    _tmp: tempfile::TempDir,
    config_dir: PathBuf,
    resource_d: PathBuf,
    init_d: PathBuf,
    state: PathBuf,
    record: PathBuf,
    sink: Arc<Collect>,
}

impl Rig {
    fn new() -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let config_dir = tmp.path().join("ha.d");
        let resource_d = config_dir.join("resource.d");
        let init_d = tmp.path().join("init.d");
        let state = tmp.path().join("state");
        for d in [&resource_d, &init_d, &state] {
            fs::create_dir_all(d).unwrap();
        }
        let record = tmp.path().join("record");
        Rig {
            _tmp: tmp,
            config_dir,
            resource_d,
            init_d,
            state,
            record,
            sink: Arc::new(Collect::default()),
        }
    }

    fn script(&self, dir: &Path, name: &str, body: &str) {
        let path = dir.join(name);
        fs::write(&path, body).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The seed line's four scripts; tomcat lives in init.d, as an LSB script would.
    fn seed_scripts(&self) {
        for name in ["IPaddr", "Filesystem", "httpd"] {
            self.script(&self.resource_d, name, RECORDING_SCRIPT);
        }
        self.script(&self.init_d, "tomcat", RECORDING_SCRIPT);
    }

    fn env(&self) -> ScriptEnv {
        let mut env = ScriptEnv::heartbeat(&self.config_dir, "node1", &ScriptLogging::default());
        env.set("TB_RECORD", &self.record.display().to_string());
        env.set("TB_STATE", &self.state.display().to_string());
        env
    }

    fn agent(&self) -> ScriptAgent {
        let search = ScriptSearch::new(vec![self.resource_d.clone(), self.init_d.clone()]);
        ScriptAgent::new(search, self.env(), self.sink.clone())
            .with_kill_grace(Duration::from_millis(300))
    }

    fn mark(&self, file: &str) {
        fs::write(self.state.join(file), "").unwrap();
    }

    fn is_on(&self, name: &str) -> bool {
        self.state.join(format!("{name}.on")).exists()
    }

    fn record(&self) -> Vec<String> {
        fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn clear_record(&self) {
        let _ = fs::remove_file(&self.record);
    }
}

fn group(line: &str) -> ResourceGroup {
    let mut diags = Diagnostics::new();
    let mut groups = haresources::parse(line, Path::new("haresources"), &mut diags);
    assert!(!diags.has_errors(), "{diags:?}");
    groups.remove(0)
}

fn fast_policy() -> GroupPolicy {
    GroupPolicy {
        timeouts: Timeouts {
            start: Duration::from_secs(10),
            stop: Duration::from_secs(10),
            status: Duration::from_secs(5),
        },
        stop_retry: StopRetry {
            retries: 2,
            interval: Duration::from_millis(10),
        },
    }
}

fn seed_calls(action: &str) -> Vec<String> {
    [
        "IPaddr 192.168.60.200/24/eth0/",
        "Filesystem /dev/sdb5 /webdata ext3",
        "httpd",
        "tomcat",
    ]
    .iter()
    .map(|r| format!("{r} {action}"))
    .collect()
}

#[test]
fn seed_line_starts_left_to_right_and_stops_right_to_left_with_its_arguments() {
    let rig = Rig::new();
    rig.seed_scripts();
    let agent = rig.agent();
    let g = group(SEED_LINE);

    let outcome = start_group(&agent, &g, &fast_policy());
    assert_eq!(
        outcome,
        GroupOutcome::Started {
            already_running: vec![]
        }
    );
    let mut expected = Vec::new();
    for (status, start) in seed_calls("status").into_iter().zip(seed_calls("start")) {
        expected.push(status);
        expected.push(start);
    }
    assert_eq!(rig.record(), expected);
    assert!(
        ["IPaddr", "Filesystem", "httpd", "tomcat"]
            .iter()
            .all(|n| rig.is_on(n))
    );

    rig.clear_record();
    assert_eq!(
        stop_group(&agent, &g, &fast_policy()),
        GroupOutcome::Stopped
    );
    let mut reversed = seed_calls("stop");
    reversed.reverse();
    assert_eq!(rig.record(), reversed);
    assert!(
        !["IPaddr", "Filesystem", "httpd", "tomcat"]
            .iter()
            .any(|n| rig.is_on(n))
    );
}

#[test]
fn start_skips_resources_whose_status_says_running() {
    let rig = Rig::new();
    rig.seed_scripts();
    rig.mark("httpd.on");
    let outcome = start_group(&rig.agent(), &group(SEED_LINE), &fast_policy());
    assert_eq!(
        outcome,
        GroupOutcome::Started {
            already_running: vec!["httpd".to_string()]
        }
    );
    let record = rig.record();
    assert!(record.contains(&"httpd status".to_string()));
    assert!(!record.contains(&"httpd start".to_string()), "{record:?}");
    assert!(record.contains(&"tomcat start".to_string()));
}

#[test]
fn start_failure_releases_the_group_in_reverse() {
    let rig = Rig::new();
    rig.seed_scripts();
    rig.mark("httpd.failstart");
    let outcome = start_group(&rig.agent(), &group(SEED_LINE), &fast_policy());
    match &outcome {
        GroupOutcome::StartFailed {
            resource,
            why,
            release,
        } => {
            assert_eq!(resource, "httpd");
            assert_eq!(
                why,
                &Failure::Exit {
                    action: Action::Start,
                    code: 1
                }
            );
            assert_eq!(release, &Ok(()));
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert!(!outcome.leaves_node_unclean());
    let starts_and_stops: Vec<String> = rig
        .record()
        .into_iter()
        .filter(|l| !l.ends_with(" status"))
        .collect();
    let mut expected: Vec<String> = seed_calls("start").into_iter().take(3).collect();
    let mut stops = seed_calls("stop");
    stops.reverse();
    expected.extend(stops);
    assert_eq!(starts_and_stops, expected);
    assert!(!rig.is_on("IPaddr") && !rig.is_on("Filesystem"));
    // The script's stderr reached the log, tagged with its resource.
    let lines = rig.sink.lines.lock().unwrap();
    assert!(
        lines.iter().any(|(tag, s, l, _)| tag == "httpd"
            && *s == Stream::Stderr
            && l == "httpd: cannot start"),
        "{lines:?}"
    );
}

/// Processes whose process group is `pgid`, zombies excluded.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            members.push(pid);
        }
    }
    members
}

#[test]
fn hanging_stop_is_killed_at_its_timeout_with_its_forked_children() {
    let rig = Rig::new();
    // stop ignores SIGTERM, forks a grandchild that ignores it too, and hangs.
    rig.script(
        &rig.resource_d,
        "stuck",
        r#"#!/bin/sh
case $1 in
  stop) echo $$ > "$TB_STATE/pgid"
        trap '' TERM
        sleep 300 &
        sleep 300;;
  status) echo "stuck is running";;
esac
"#,
    );
    let policy = GroupPolicy {
        timeouts: Timeouts {
            stop: Duration::from_millis(400),
            ..fast_policy().timeouts
        },
        stop_retry: StopRetry {
            retries: 0,
            interval: Duration::from_millis(1),
        },
    };
    let started = Instant::now();
    let outcome = stop_group(&rig.agent(), &group("node1 stuck"), &policy);
    let elapsed = started.elapsed();
    match &outcome {
        GroupOutcome::StopFailed(failure) => {
            assert_eq!(failure.resource, "stuck");
            assert!(matches!(
                failure.why,
                Failure::TimedOut {
                    action: Action::Stop,
                    ..
                }
            ));
        }
        other => panic!("expected StopFailed, got {other:?}"),
    }
    assert!(outcome.leaves_node_unclean());
    // 400 ms timeout + 300 ms grace + a status run; far below the sleeps.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let pgid: i32 = fs::read_to_string(rig.state.join("pgid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL is delivered when each member is next scheduled: give the
    // kernel a moment (bounded) to finish them before judging.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut survivors = live_members(pgid);
    while !survivors.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        survivors = live_members(pgid);
    }
    assert_eq!(
        survivors,
        Vec::<i32>::new(),
        "process group {pgid} survived"
    );
}

#[test]
fn a_daemon_that_keeps_the_pipes_open_does_not_hold_up_the_start() {
    let rig = Rig::new();
    rig.script(
        &rig.resource_d,
        "leaky",
        "#!/bin/sh\ncase $1 in start) (sleep 3; echo late) & echo started;; status) echo stopped;; esac\nexit 0\n",
    );
    let started = Instant::now();
    let outcome = rig.agent().run(
        &group("node1 leaky").resources[0],
        Action::Start,
        Duration::from_secs(10),
    );
    assert_eq!(outcome, Outcome::Done);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_lying_status_is_believed_as_heartbeat_would() {
    let rig = Rig::new();
    // Claims to run although never started: start is skipped.
    rig.script(
        &rig.resource_d,
        "liar",
        "#!/bin/sh\necho \"$0 $*\" >> \"$TB_RECORD\"\ncase $1 in status) echo 'Running OK'; exit 3;; stop) exit 1;; esac\nexit 0\n",
    );
    let g = group("node1 liar");
    assert_eq!(
        start_group(&rig.agent(), &g, &fast_policy()),
        GroupOutcome::Started {
            already_running: vec!["liar".to_string()]
        }
    );
    assert!(!rig.record().iter().any(|l| l.ends_with(" start")));
    // Its stop fails every time and status still says running: unclean.
    let outcome = stop_group(&rig.agent(), &g, &fast_policy());
    assert!(outcome.leaves_node_unclean(), "{outcome:?}");
    let stops = rig.record().iter().filter(|l| l.ends_with(" stop")).count();
    assert_eq!(stops, 3, "one stop and two retries");
}

#[test]
fn a_failed_stop_whose_status_says_stopped_is_not_unclean() {
    let rig = Rig::new();
    rig.script(
        &rig.resource_d,
        "nonlsb",
        "#!/bin/sh\ncase $1 in status) echo 'nonlsb is not running';; stop) exit 7;; esac\nexit 0\n",
    );
    assert_eq!(
        stop_group(&rig.agent(), &group("node1 nonlsb"), &fast_policy()),
        GroupOutcome::Stopped
    );
}

#[test]
fn flooding_output_is_consumed_and_long_lines_are_cut() {
    let rig = Rig::new();
    rig.script(
        &rig.resource_d,
        "flood",
        "#!/bin/sh\nhead -c 5000000 /dev/zero | tr '\\0' x\necho\nyes line | head -n 300000 >&2\necho done\nexit 0\n",
    );
    let started = Instant::now();
    let outcome = rig.agent().run(
        &group("node1 flood").resources[0],
        Action::Start,
        Duration::from_secs(30),
    );
    assert_eq!(outcome, Outcome::Done);
    assert!(started.elapsed() < Duration::from_secs(20));
    let lines = rig.sink.lines.lock().unwrap();
    let long = lines
        .iter()
        .find(|(_, _, _, truncated)| *truncated)
        .expect("a truncated line");
    assert_eq!(long.2.len(), 4096);
    assert!(long.2.bytes().all(|b| b == b'x'));
}

#[test]
fn scripts_see_heartbeats_environment() {
    let rig = Rig::new();
    rig.script(
        &rig.resource_d,
        "envdump",
        "#!/bin/sh\nenv > \"$TB_STATE/env\"\nexit 0\n",
    );
    let outcome = rig.agent().run(
        &group("node1 envdump").resources[0],
        Action::Start,
        Duration::from_secs(10),
    );
    assert_eq!(outcome, Outcome::Done);
    let env = fs::read_to_string(rig.state.join("env")).unwrap();
    let dir = rig.config_dir.display().to_string();
    for expected in [
        format!("HA_DIR={dir}"),
        format!("HA_FUNCS={dir}/shellfuncs"),
        format!("HA_RESOURCEDIR={dir}/resource.d"),
        "HA_CURHOST=node1".to_string(),
        "OCF_ROOT=/usr/lib/ocf".to_string(),
        "HA_LOGD=no".to_string(),
    ] {
        assert!(
            env.lines().any(|l| l == expected),
            "missing {expected} in\n{env}"
        );
    }
    // The daemon's own environment is inherited (PATH for the scripts' tools).
    assert!(env.lines().any(|l| l.starts_with("PATH=")));
}

#[test]
fn a_missing_script_fails_the_start_naming_where_it_looked() {
    let rig = Rig::new();
    rig.seed_scripts();
    let outcome = start_group(&rig.agent(), &group("node1 httpd nosuch"), &fast_policy());
    let GroupOutcome::StartFailed { resource, why, .. } = outcome else {
        panic!("expected StartFailed, got {outcome:?}");
    };
    assert_eq!(resource, "nosuch");
    let text = why.to_string();
    assert!(text.contains("nosuch"), "{text}");
    assert!(
        text.contains(&rig.resource_d.display().to_string()),
        "{text}"
    );
    assert!(text.contains(&rig.init_d.display().to_string()), "{text}");
    assert!(!rig.is_on("httpd"), "httpd was released");
}

/// A built-in stand-in: answers in process and records what it was asked.
#[derive(Default)]
struct FakeBuiltin {
    calls: Mutex<Vec<(String, Action)>>,
}

impl Agent for FakeBuiltin {
    fn run(&self, resource: &Resource, action: Action, _timeout: Duration) -> Outcome {
        self.calls
            .lock()
            .unwrap()
            .push((resource.to_string(), action));
        match action {
            Action::Status => Outcome::State(ResourceState::Stopped),
            _ => Outcome::Done,
        }
    }
}

#[test]
fn builtins_take_their_resources_and_scripts_the_rest() {
    let rig = Rig::new();
    rig.seed_scripts();
    let builtin = Arc::new(FakeBuiltin::default());
    let agent = Dispatch::new(Arc::new(rig.agent())).with_builtin("IPaddr", builtin.clone());
    let outcome = start_group(&agent, &group(SEED_LINE), &fast_policy());
    assert!(
        matches!(outcome, GroupOutcome::Started { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        *builtin.calls.lock().unwrap(),
        vec![
            (
                "IPaddr::192.168.60.200/24/eth0/".to_string(),
                Action::Status
            ),
            ("IPaddr::192.168.60.200/24/eth0/".to_string(), Action::Start),
        ]
    );
    assert!(!rig.record().iter().any(|l| l.starts_with("IPaddr")));
    assert!(rig.record().contains(&"tomcat start".to_string()));
}

#[test]
fn the_executor_reports_on_a_channel_while_the_caller_goes_on() {
    let rig = Rig::new();
    rig.script(
        &rig.resource_d,
        "slow",
        "#!/bin/sh\ncase $1 in start) sleep 1;; status) echo stopped;; esac\nexit 0\n",
    );
    let mut executor = GroupExecutor::new(Arc::new(rig.agent()), fast_policy());
    let submitted = Instant::now();
    let job = executor
        .submit(GroupOp::Start, group("node1 slow"))
        .unwrap();
    assert!(submitted.elapsed() < Duration::from_millis(500));
    assert!(executor.is_busy("slow"));
    assert_eq!(
        executor.submit(GroupOp::Stop, group("node1 slow")),
        Err(SubmitError::Busy("slow".to_string()))
    );
    let report = executor
        .reports()
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert_eq!(report.job, job);
    assert_eq!(report.group, "slow");
    assert_eq!(report.op, GroupOp::Start);
    assert!(matches!(report.outcome, GroupOutcome::Started { .. }));
    assert!(report.elapsed >= Duration::from_secs(1));
    assert!(!executor.is_busy("slow"));
}

/// Records which thread ran each action; `hang` blocks its status until
/// released.
struct ThreadRecorder {
    ran_on: Mutex<Vec<(String, std::thread::ThreadId)>>,
    /// The kernel's id of the last thread that ran an action.
    last_tid: Mutex<Option<i32>>,
    release: Mutex<bool>,
    released: std::sync::Condvar,
}

impl Agent for ThreadRecorder {
    fn run(&self, resource: &Resource, action: Action, _timeout: Duration) -> Outcome {
        self.ran_on
            .lock()
            .unwrap()
            .push((resource.script.clone(), std::thread::current().id()));
        // SAFETY: gettid has no preconditions.
        *self.last_tid.lock().unwrap() = Some(unsafe { libc::gettid() });
        if resource.script == "hang" && action == Action::Status {
            let mut go = self.release.lock().unwrap();
            while !*go {
                go = self.released.wait(go).unwrap();
            }
        }
        match action {
            Action::Status => Outcome::State(ResourceState::Stopped),
            _ => Outcome::Done,
        }
    }
}

#[test]
fn each_group_keeps_one_worker_thread_and_a_hung_group_does_not_hold_another() {
    let agent = Arc::new(ThreadRecorder {
        ran_on: Mutex::new(Vec::new()),
        last_tid: Mutex::new(None),
        release: Mutex::new(false),
        released: std::sync::Condvar::new(),
    });
    let mut executor = GroupExecutor::new(agent.clone(), fast_policy());
    let next = |executor: &GroupExecutor| {
        executor
            .reports()
            .recv_timeout(Duration::from_secs(10))
            .expect("a report")
    };
    executor
        .submit(GroupOp::Status, group("node1 hang"))
        .unwrap();
    // While `hang` blocks its worker, `quick` runs three jobs in turn.
    for op in [GroupOp::Status, GroupOp::Start, GroupOp::Stop] {
        executor.submit(op, group("node1 quick")).unwrap();
        let report = next(&executor);
        assert_eq!((report.group.as_str(), report.op), ("quick", op));
    }
    assert!(executor.is_busy("hang"));
    *agent.release.lock().unwrap() = true;
    agent.released.notify_all();
    assert_eq!(next(&executor).group, "hang");
    executor
        .submit(GroupOp::Start, group("node1 hang"))
        .unwrap();
    assert_eq!(next(&executor).op, GroupOp::Start);

    let ran_on = agent.ran_on.lock().unwrap().clone();
    let threads_of = |name: &str| {
        let mut t: Vec<_> = ran_on
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .collect();
        t.dedup();
        t
    };
    assert_eq!(threads_of("quick").len(), 1, "{ran_on:?}");
    assert_eq!(threads_of("hang").len(), 1, "{ran_on:?}");
    assert_ne!(threads_of("quick"), threads_of("hang"));
    assert_ne!(threads_of("quick")[0], std::thread::current().id());
}

/// The scheduler state letter (R, S, ...) of this process's thread `tid`.
fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 1..)?;
    after.split_whitespace().next()?.chars().next()
}

#[test]
fn asked_to_stay_awake_an_idle_worker_polls_until_the_moment_then_sleeps() {
    let agent = Arc::new(ThreadRecorder {
        ran_on: Mutex::new(Vec::new()),
        last_tid: Mutex::new(None),
        release: Mutex::new(true),
        released: std::sync::Condvar::new(),
    });
    let mut executor = GroupExecutor::new(agent.clone(), fast_policy());
    executor
        .submit(GroupOp::Status, group("node1 quick"))
        .unwrap();
    executor
        .reports()
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    let worker = agent
        .last_tid
        .lock()
        .unwrap()
        .expect("the worker ran the status");
    let settle = Instant::now() + Duration::from_secs(5);
    while thread_state(worker) != Some('S') && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(thread_state(worker), Some('S'), "an idle worker sleeps");

    let window = Duration::from_millis(400);
    let until = twinbeat::time::monotonic_ns() + window.as_nanos() as u64;
    executor.stay_awake_until(until);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(thread_state(worker), Some('R'), "polling, not sleeping");

    // A job submitted now is taken at once and reported as usual.
    executor
        .submit(GroupOp::Start, group("node1 quick"))
        .unwrap();
    let report = executor
        .reports()
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert_eq!(report.op, GroupOp::Start);
    // After its job the worker sleeps again, window or not.
    let settle = Instant::now() + Duration::from_secs(5);
    while thread_state(worker) != Some('S') && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(thread_state(worker), Some('S'));

    // Asked again, it polls until the moment passes, then sleeps.
    let until = twinbeat::time::monotonic_ns() + window.as_nanos() as u64;
    executor.stay_awake_until(until);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(thread_state(worker), Some('R'));
    std::thread::sleep(window);
    let settle = Instant::now() + Duration::from_secs(5);
    while thread_state(worker) != Some('S') && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(thread_state(worker), Some('S'), "asleep after the window");
}
