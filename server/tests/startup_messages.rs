//! What the `minikafka` binary says when it starts: a new data directory is not reported as a
//! crash, a start after `kill -9` says that it recovers and what each log's recovery cut, and a
//! fatal start error is printed once. Runs the real binary (stderr to a file) and talks to it
//! over TCP with the shared protocol-test client.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{batch, create_req, produce_req, Client};

/// Starts the binary on 127.0.0.1:0 with its stdout and stderr appended to `log`.
fn spawn(data: &Path, log: &Path, listen: &str) -> Child {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_minikafka"))
        .args(["--listen", listen, "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

/// Waits (bounded) for the "started, listening on" line; panics with the log if the broker exits.
fn wait_started(child: &mut Child, log: &Path) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.split("minikafka started, listening on ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
        {
            return addr.parse().unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("minikafka exited ({status}) before it started:\n{text}");
        }
        assert!(Instant::now() < deadline, "minikafka not started:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_data_directory_is_not_a_crash_and_recovery_says_what_it_cut() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = dir.path().join("first.log");
    let mut child = spawn(&data, &first, "127.0.0.1:0");
    let addr = wait_started(&mut child, &first);
    let mut client = Client {
        stream: tokio::net::TcpStream::connect(addr).await.unwrap(),
        correlation: 0,
    };
    let created = client.call(create_req("t", 1, 1, &[]), 5).await;
    assert_eq!(created.topics[0].error_code, 0);
    let produced = client
        .call(produce_req("t", 0, batch(5, 1_000).freeze(), 1), 9)
        .await;
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(text.contains("formatted new data directory"), "{text}");
    assert!(!text.contains("did not shut down cleanly"), "{text}");
    assert!(!text.contains("recovered log"), "{text}");

    // A crash, and a torn write at the end of the segment.
    child.kill().unwrap();
    child.wait().unwrap();
    OpenOptions::new()
        .append(true)
        .open(data.join("t-0").join("00000000000000000000.log"))
        .unwrap()
        .write_all(&[0xde; 7])
        .unwrap();

    let second = dir.path().join("second.log");
    let mut child = spawn(&data, &second, "127.0.0.1:0");
    wait_started(&mut child, &second);
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&second).unwrap();
    assert_eq!(
        text.matches("did not shut down cleanly").count(),
        1,
        "{text}"
    );
    let recovered = text
        .lines()
        .find(|l| l.contains("recovered log after an unclean shutdown") && l.contains("t-0"))
        .unwrap_or_else(|| panic!("no recovery line for t-0:\n{text}"));
    assert!(recovered.contains("bytes_truncated=7"), "{recovered}");
    assert!(recovered.contains("log_end_offset=5"), "{recovered}");
}

#[test]
fn a_fatal_start_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let log = dir.path().join("broker.log");
    let mut child = spawn(
        &dir.path().join("data"),
        &log,
        &taken.local_addr().unwrap().to_string(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("minikafka kept running on a taken port");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{text}");
    assert_eq!(text.matches("cannot start").count(), 1, "{text}");
}
