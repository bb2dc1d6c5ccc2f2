//! minikafka tools.
fn main() {}
