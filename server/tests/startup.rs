//! Start-up failures leave nothing behind: a port in use is refused before the data directory
//! is created or formatted.

use minikafka::broker::{BrokerError, RunningBroker};
use minikafka::config::ConfigBuilder;

#[tokio::test]
async fn a_port_in_use_leaves_no_fresh_data_directory() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let mut b = ConfigBuilder::default();
    b.set("listeners", &format!("127.0.0.1:{port}")).unwrap();
    b.set("log.dirs", data.to_str().unwrap()).unwrap();
    let err = RunningBroker::start(b.build().unwrap()).await.unwrap_err();
    assert!(matches!(err, BrokerError::Bind { .. }), "{err}");
    assert!(!data.exists(), "a failed bind created {}", data.display());
    drop(taken);
}
