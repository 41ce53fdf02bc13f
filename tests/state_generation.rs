//! The generation store on a real filesystem (temporary directories).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use twinbeat::state::{GENERATION_FILE, GenerationStore, StateError};

#[test]
fn first_start_is_one_and_numbers_rise_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let mut store = GenerationStore::open(dir.path()).expect("opens");
        seen.push(store.take_next().expect("persists"));
    }
    assert_eq!(seen, vec![1, 2, 3, 4]);
    let text = fs::read_to_string(dir.path().join(GENERATION_FILE)).expect("file");
    assert_eq!(text.trim(), "4");
    // The temporary file does not linger.
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![GENERATION_FILE]);
}

#[test]
fn take_next_twice_in_one_run_still_rises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = GenerationStore::open(dir.path()).expect("opens");
    assert_eq!(store.take_next().expect("1"), 1);
    assert_eq!(store.take_next().expect("2"), 2);
    assert_eq!(store.current(), 2);
}

#[test]
fn reserve_persists_so_the_next_start_goes_above_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = GenerationStore::open(dir.path()).expect("opens");
    let generation = store.take_next().expect("first");
    store.reserve(generation + 1).expect("reserves");
    // A lower reservation never lowers what is stored.
    store.reserve(1).expect("no-op");
    drop(store);
    let mut reopened = GenerationStore::open(dir.path()).expect("reopens");
    assert_eq!(reopened.take_next().expect("next"), generation + 2);
}

#[test]
fn corrupt_file_is_an_error_naming_the_file_and_its_content() {
    for content in ["forty-two\n", "", "12abc", "-3"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(GENERATION_FILE);
        fs::write(&path, content).expect("writes");
        let err = GenerationStore::open(dir.path()).expect_err("corrupt");
        match &err {
            StateError::Corrupt { path: p, found } => {
                assert_eq!(p, &path);
                assert_eq!(found, content);
            }
            other => panic!("unexpected error {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        // Never silently reset.
        assert_eq!(fs::read_to_string(&path).expect("still there"), content);
    }
}

#[test]
fn exhausted_generation_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join(GENERATION_FILE), format!("{}\n", u32::MAX)).expect("writes");
    let mut store = GenerationStore::open(dir.path()).expect("opens");
    assert!(matches!(
        store.take_next(),
        Err(StateError::Exhausted { current, .. }) if current == u32::MAX
    ));
}

#[test]
fn missing_directory_is_created_private() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path().join("var/lib/twinbeat");
    let mut store = GenerationStore::open(&dir).expect("creates");
    assert!(dir.is_dir());
    let mode = fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(store.take_next().expect("first"), 1);
}

#[test]
fn state_dir_that_is_a_file_is_an_error_naming_it() {
    let base = tempfile::tempdir().expect("tempdir");
    let file = base.path().join("not-a-dir");
    fs::write(&file, "x").expect("writes");
    let err = GenerationStore::open(&file).expect_err("not a directory");
    assert!(matches!(err, StateError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}
