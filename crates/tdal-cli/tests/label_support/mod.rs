//! Support for the tests of `tdal label serve`: a project made by `tdal label init` on the
//! label-mini fixture, the server as a child process (kill -9 and restart at will), its
//! JSON API over a blocking HTTP client, and a scripted person answering from the
//! fixture's `truth.csv`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a proposal (retraining included) may take on CI's two cores.
pub const PROPOSAL_TIMEOUT: Duration = Duration::from_secs(600);

/// The fixture: 400 PNGs under `images/` and `truth.csv`.
pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/label-mini")
}

/// The `tdal` binary cargo built for these tests.
pub fn tdal() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tdal"));
    cmd.env_remove("TDAL_DATA_DIR").env_remove("TDAL_LOG");
    cmd
}

/// `tdal label init` of the fixture's images (classes five and six, smoke profile) into
/// `parent/project`.
pub fn init_project(parent: &Path) -> PathBuf {
    init(parent, false)
}

/// As [`init_project`], with the fixture's held-out images and their labels imported
/// (the status then has a learning curve).
pub fn init_project_with_heldout(parent: &Path) -> PathBuf {
    init(parent, true)
}

fn init(parent: &Path, heldout: bool) -> PathBuf {
    let project = parent.join("project");
    let mut init = tdal();
    init.args(["label", "init", "--images"])
        .arg(fixture().join("images"))
        .args(["--classes", "five,six", "--project"])
        .arg(&project)
        .args(["--profile", "smoke"]);
    if heldout {
        init.arg("--heldout").arg(fixture().join("heldout"));
    }
    succeed(&mut init);
    if heldout {
        succeed(
            tdal()
                .args(["label", "import", "--heldout", "--project"])
                .arg(&project)
                .arg(fixture().join("heldout-truth.csv")),
        );
    }
    project
}

fn succeed(cmd: &mut Command) {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A free loopback port (for a server that must come back at the same address).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The fixture's answers: relative image path → class name as written in `truth.csv`.
pub struct Truth {
    by_path: HashMap<String, String>,
}

impl Truth {
    /// Reads `truth.csv`: a header naming a path column (`path`, `file`, `image`...) and a
    /// class column (`class`, `label`...).
    pub fn load() -> Self {
        let path = fixture().join("truth.csv");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = split(lines.next().expect("truth.csv is empty"))
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let column = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.iter().any(|n| h.contains(n)))
                .unwrap_or_else(|| panic!("truth.csv has no column like {names:?}: {header:?}"))
        };
        let path_col = column(&["path", "file", "image", "name"]);
        let class_col = column(&["class", "label", "truth", "digit"]);
        let by_path = lines
            .map(|line| {
                let fields = split(line);
                (
                    normalise(&fields[path_col]),
                    fields[class_col].trim().to_owned(),
                )
            })
            .collect();
        Self { by_path }
    }

    /// The class a person answers for the image at `path` (relative to the images
    /// folder), among the project's `classes` (the "other" class first).
    pub fn answer(&self, path: &str, classes: &[String]) -> String {
        let key = normalise(path);
        let truth = self
            .by_path
            .get(&key)
            .or_else(|| {
                self.by_path
                    .iter()
                    .find(|(p, _)| {
                        p.ends_with(&format!("/{key}")) || key.ends_with(&format!("/{p}"))
                    })
                    .map(|(_, c)| c)
            })
            .unwrap_or_else(|| panic!("{path} is not in truth.csv"));
        class_of(truth, classes)
    }
}

fn split(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').to_owned())
        .collect()
}

fn normalise(path: &str) -> String {
    let path = path.trim().replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    path.strip_prefix("images/").unwrap_or(path).to_owned()
}

/// A class of `truth.csv` as one of the project's classes: the same name, a digit for
/// its English word, anything else is the "other" class (`classes[0]`).
pub fn class_of(truth: &str, classes: &[String]) -> String {
    const WORDS: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let truth = truth.trim().to_ascii_lowercase();
    let word = truth
        .parse::<usize>()
        .ok()
        .and_then(|d| WORDS.get(d).copied())
        .unwrap_or(&truth);
    classes
        .iter()
        .find(|c| c.eq_ignore_ascii_case(word))
        .unwrap_or(&classes[0])
        .clone()
}

/// A running `tdal label serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    /// The URL it printed (with `?token=` when it has one).
    pub url: String,
    token: Option<String>,
    agent: ureq::Agent,
    log: PathBuf,
}

impl Server {
    /// Starts a server on a free port and waits for its URL.
    pub fn start(project: &Path) -> Self {
        Self::start_with(project, &["--addr", "127.0.0.1:0"])
    }

    /// Starts a server with these extra arguments and waits for its URL (its stderr goes
    /// to a log file beside the project, shown when something fails).
    pub fn start_with(project: &Path, args: &[&str]) -> Self {
        let log = project.with_extension(format!("serve-{}.log", free_port()));
        let mut child = tdal()
            .args(["label", "serve", "--project"])
            .arg(project)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so the server never blocks.
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    if let Some(start) = line.find("http://") {
                        let url = line[start..].split_whitespace().next().unwrap().to_owned();
                        break url;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().unwrap();
                    panic!(
                        "tdal label serve printed no URL ({status}):\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };
        let rest = url.strip_prefix("http://").unwrap();
        let host = rest.split('/').next().unwrap();
        let port = host.rsplit(':').next().unwrap().parse().unwrap();
        let token = url.split("?token=").nth(1).map(str::to_owned);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(900)))
            .build()
            .into();
        Self {
            child: Some(child),
            base: format!("http://{host}"),
            port,
            url,
            token,
            agent,
            log,
        }
    }

    /// `path` on this server, with the token when it has one.
    pub fn at(&self, path: &str) -> String {
        match &self.token {
            Some(token) => {
                let join = if path.contains('?') { '&' } else { '?' };
                format!("{}{path}{join}token={token}", self.base)
            }
            None => format!("{}{path}", self.base),
        }
    }

    /// A blocking client that reports every status (no error for 4xx/5xx).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// `GET` (the token added): status and body bytes.
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let mut response = self.agent.get(&self.at(path)).call().unwrap();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap();
        (status, body)
    }

    /// `POST` of a JSON body (the token added): status and the JSON answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        post_json(&self.agent, &self.at(path), body)
    }

    /// The live state.
    pub fn state(&self) -> Value {
        let (status, body) = self.get("/api/state");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    /// Polls the state until `done` holds; panics (with the server's log) after
    /// `timeout` or on a worker error.
    pub fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let state = self.state();
            if done(&state) {
                return state;
            }
            if !state["error"].is_null() || start.elapsed() > timeout {
                panic!(
                    "waiting for {what}: {state}\nserver log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a proposed batch (or the end of the budget).
    pub fn wait_for_batch(&self) -> Value {
        self.wait_for("a proposed batch", PROPOSAL_TIMEOUT, |s| {
            !s["proposal"].is_null() || s["finished"] == true
        })
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit, at most `timeout`.
    pub fn interrupt(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                panic!("the server did not stop within {timeout:?} of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// `POST` of a JSON body: status and the JSON answer.
pub fn post_json(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// The class names of a state (the "other" class first).
pub fn classes(state: &Value) -> Vec<String> {
    state["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Manifest indices of the proposed batch.
pub fn indices(state: &Value) -> Vec<u64> {
    state["proposal"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect()
}

/// The submission a person who knows the truth makes for the proposed batch.
pub fn answers(state: &Value, truth: &Truth) -> Value {
    let classes = classes(state);
    let labels: Vec<Value> = state["proposal"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            json!({
                "index": item["index"],
                "class": truth.answer(item["path"].as_str().unwrap(), &classes),
            })
        })
        .collect();
    json!({ "batch": state["proposal"]["batch"], "labels": labels })
}

/// Lines of the project's label log.
pub fn log_lines(project: &Path) -> Vec<Value> {
    std::fs::read_to_string(project.join("labels.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
