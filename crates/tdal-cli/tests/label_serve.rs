//! `tdal label serve` as a person's browser sees it, against the real binary and a real
//! project (`tdal label init` of the label-mini fixture, smoke profile): a scripted person
//! answering every batch from `truth.csv` until the budget is spent, kill -9 between and
//! during submissions losing nothing acknowledged, two tabs racing on one batch, the
//! token, the project's lock, and the refusals before anything is served.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
mod label_support;

use label_support::{
    Server, Truth, answers, free_port, indices, init_project, log_lines, post_json,
};

/// Every pool index in the label log, once each.
fn logged_indices(project: &Path) -> Vec<u64> {
    let mut indices: Vec<u64> = log_lines(project)
        .iter()
        .filter(|e| e["heldout"] != true)
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    indices.sort_unstable();
    indices
}

#[test]
fn a_scripted_person_labels_every_batch_until_the_budget_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let project = init_project(dir.path());
    let truth = Truth::load();
    let server = Server::start(&project);
    let mut batches = 0;
    let mut acknowledged = 0;
    let start = Instant::now();
    loop {
        let state = server.wait_for_batch();
        if state["finished"] == true {
            assert!(state["proposal"].is_null());
            break;
        }
        assert_eq!(
            state["proposal"]["batch"], batches,
            "batches are numbered in order"
        );
        if batches > 0 {
            // A model exists after the first batch: every image has a suggestion.
            let items = state["proposal"]["items"].as_array().unwrap();
            assert!(items.iter().all(|i| i["suggestion"].is_string()), "{state}");
        }
        let submission = answers(&state, &truth);
        let size = submission["labels"].as_array().unwrap().len();
        let (status, answer) = server.post("/api/submit", &submission);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["saved"], size);
        acknowledged += size;
        batches += 1;
        assert_eq!(
            logged_indices(&project).len(),
            acknowledged,
            "fsync'ed before the answer"
        );
    }
    let status = server.state()["status"].clone();
    assert_eq!(status["finished"], true);
    assert_eq!(status["labelled"], acknowledged);
    assert_eq!(
        status["budget"], acknowledged,
        "the budget is spent exactly"
    );
    assert_eq!(status["batches"].as_array().unwrap().len(), batches);
    let counted: u64 = status["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, acknowledged);
    let logged = logged_indices(&project);
    let mut distinct = logged.clone();
    distinct.dedup();
    assert_eq!(distinct, logged, "no image labelled twice");
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{batches} batches, {acknowledged} labels in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn killing_the_server_loses_nothing_acknowledged_and_reproposes_the_same_batch() {
    let dir = tempfile::tempdir().unwrap();
    let project = init_project(dir.path());
    let truth = Truth::load();

    // Batch 0 acknowledged, batch 1 proposed, then kill -9.
    let server = Server::start(&project);
    let first = server.wait_for_batch();
    let (status, answer) = server.post("/api/submit", &answers(&first, &truth));
    assert_eq!(status, 200, "{answer}");
    let second = server.wait_for_batch();
    assert_eq!(second["proposal"]["batch"], 1);
    let labelled = second["status"]["labelled"].clone();
    server.kill();
    assert_eq!(
        logged_indices(&project).len() as u64,
        labelled.as_u64().unwrap()
    );

    // The same batch comes back, nothing acknowledged is lost.
    let server = Server::start(&project);
    let again = server.wait_for_batch();
    assert_eq!(again["proposal"]["batch"], 1);
    assert_eq!(
        indices(&again),
        indices(&second),
        "the same images, in the same order"
    );
    assert_eq!(again["status"]["labelled"], labelled);

    // Killed right after an acknowledged submission, while the next batch is computed.
    let submission = answers(&again, &truth);
    let (status, answer) = server.post("/api/submit", &submission);
    assert_eq!(status, 200, "{answer}");
    server.kill();
    let expected = labelled.as_u64().unwrap() + answer["saved"].as_u64().unwrap();
    assert_eq!(logged_indices(&project).len() as u64, expected);

    let server = Server::start(&project);
    let third = server.wait_for_batch();
    assert_eq!(third["status"]["labelled"], expected);
    if third["finished"] != true {
        assert_eq!(third["proposal"]["batch"], 2);
    }
    // The batch already saved is stale now.
    let (status, answer) = server.post("/api/submit", &submission);
    assert_eq!(status, 409, "{answer}");
    assert_eq!(logged_indices(&project).len() as u64, expected);
}

#[test]
fn two_concurrent_submissions_of_one_batch_one_is_saved_the_other_is_409() {
    let dir = tempfile::tempdir().unwrap();
    let project = init_project(dir.path());
    let truth = Truth::load();
    let server = Server::start(&project);
    let state = server.wait_for_batch();
    let submission = answers(&state, &truth);
    let size = submission["labels"].as_array().unwrap().len();
    let barrier = Arc::new(Barrier::new(2));
    let tabs: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let agent = server.agent().clone();
            let url = server.at("/api/submit");
            let submission = submission.clone();
            std::thread::spawn(move || {
                barrier.wait();
                post_json(&agent, &url, &submission)
            })
        })
        .collect();
    let mut outcomes: Vec<(u16, Value)> = tabs.into_iter().map(|t| t.join().unwrap()).collect();
    outcomes.sort_by_key(|(status, _)| *status);
    assert_eq!(outcomes[0].0, 200, "{outcomes:?}");
    assert_eq!(outcomes[0].1["saved"], size);
    assert_eq!(outcomes[1].0, 409, "{outcomes:?}");
    assert!(outcomes[1].1["error"].is_string(), "{outcomes:?}");
    assert_eq!(
        logged_indices(&project).len(),
        size,
        "the batch is in the log once"
    );
    let next = server.wait_for_batch();
    assert_eq!(next["status"]["labelled"], size);
}

#[test]
fn with_a_token_every_request_must_carry_it() {
    let dir = tempfile::tempdir().unwrap();
    let project = init_project(dir.path());
    let token = "test-token-1234";
    let server = Server::start_with(&project, &["--addr", "127.0.0.1:0", "--token", token]);
    assert!(
        server.url.ends_with(&format!("/?token={token}")),
        "{}",
        server.url
    );
    let state = server.wait_for_batch();
    let index = indices(&state)[0];
    let bare = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let bare: ureq::Agent = bare.into();
    for path in [
        "/".to_owned(),
        "/api/state".to_owned(),
        format!("/api/image/{index}"),
    ] {
        let url = format!("{}{path}", server.base);
        assert_eq!(
            bare.get(&url).call().unwrap().status().as_u16(),
            401,
            "{path}"
        );
        let wrong = format!("{url}?token=wrong-token-1234");
        assert_eq!(
            bare.get(&wrong).call().unwrap().status().as_u16(),
            401,
            "{path}"
        );
        let with_query = bare.get(&format!("{url}?token={token}")).call().unwrap();
        assert_eq!(with_query.status().as_u16(), 200, "{path}");
        let with_header = bare
            .get(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(with_header.status().as_u16(), 200, "{path}");
    }
    let (status, _) = post_json(
        &bare,
        &format!("{}/api/submit", server.base),
        &answers(&state, &Truth::load()),
    );
    assert_eq!(status, 401);
    assert!(logged_indices(&project).is_empty());
}

#[test]
fn images_are_the_pool_files_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let project = init_project(dir.path());
    let server = Server::start(&project);
    let state = server.wait_for_batch();
    let item = &state["proposal"]["items"][0];
    let path = label_support::fixture()
        .join("images")
        .join(item["path"].as_str().unwrap());
    let (status, bytes) = server.get(&format!("/api/image/{}", item["index"]));
    assert_eq!(status, 200);
    assert_eq!(bytes, std::fs::read(&path).unwrap());
    let pool = state["status"]["pool"].as_u64().unwrap();
    assert_eq!(server.get(&format!("/api/image/{pool}")).0, 404);
    assert_eq!(server.get("/api/image/..%2F..%2Fetc%2Fpasswd").0, 400);
    assert_eq!(server.get("/api/image/%2Fetc%2Fpasswd").0, 400);
    assert_eq!(server.get("/api/image/-1").0, 400);
    let (status, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(String::from_utf8(page).unwrap().contains("Submit batch"));
    // Too large a submission is refused before it is read whole.
    let huge = json!({ "batch": 0, "labels": [], "pad": "x".repeat(300 * 1024) });
    assert_eq!(server.post("/api/submit", &huge).0, 413);
    assert!(logged_indices(&project).is_empty());
    // The page still works after all that.
    assert_eq!(server.state()["proposal"]["batch"], 0);
}

#[test]
fn a_second_server_on_the_same_project_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let project = init_project(dir.path());
    let server = Server::start(&project);
    let port = free_port().to_string();
    let mut second = label_support::tdal();
    second
        .args(["label", "serve", "--project"])
        .arg(&project)
        .args(["--addr", &format!("127.0.0.1:{port}")]);
    let output = wait_output(second, Duration::from_secs(60));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("open in another tdal process"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("http://"));
    // The first one is unaffected.
    server.wait_for_batch();
}

/// Runs `cmd` to completion, killing it after `timeout`.
fn wait_output(mut cmd: std::process::Command, timeout: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > timeout {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_non_loopback_address_without_a_token_is_refused_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let line = common::error_line(
        common::tdal()
            .args(["label", "serve", "--project"])
            .arg(dir.path())
            .args(["--addr", &format!("0.0.0.0:{port}")]),
        "--token",
    );
    assert!(line.contains(&format!("0.0.0.0:{port}")), "{line}");
    // Nothing was bound: the port is still free.
    std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
}

#[test]
fn a_weak_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::error_line(
        common::tdal()
            .args(["label", "serve", "--project"])
            .arg(dir.path())
            .args(["--addr", "127.0.0.1:0", "--token", "a b"]),
        "--token must",
    );
}

#[test]
fn a_project_that_cannot_be_opened_is_reported_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-project");
    let line = common::error_line(
        common::tdal()
            .args(["label", "serve", "--project"])
            .arg(&missing)
            .args(["--addr", "127.0.0.1:0"]),
        "cannot open the project",
    );
    assert!(line.contains("no-such-project"), "{line}");
}

#[test]
fn classes_of_the_truth_map_onto_the_project() {
    let classes: Vec<String> = ["other", "five", "six"].map(str::to_owned).to_vec();
    assert_eq!(label_support::class_of("five", &classes), "five");
    assert_eq!(label_support::class_of("5", &classes), "five");
    assert_eq!(label_support::class_of("SIX", &classes), "six");
    assert_eq!(label_support::class_of("three", &classes), "other");
    assert_eq!(label_support::class_of("other", &classes), "other");
}

#[test]
fn ctrl_c_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let project = init_project(dir.path());
    let mut server = Server::start(&project);
    server.wait_for_batch();
    let status = server.interrupt(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    // The project's lock went with it: a new server opens it.
    let again = Server::start(&project);
    assert_eq!(again.wait_for_batch()["proposal"]["batch"], 0);
}
