//! The controller quorum: the cluster metadata log, replicated with Raft (the `openraft` crate)
//! among the controllers, and the state every broker builds from it.
//!
//! openraft stays inside this module: the rest of the broker sees [`TypeConfig`]'s records and
//! the quorum's own API, so a change of openraft's API (its 0.10 line rewrites it) touches only
//! these files.

pub mod store;

use std::io::Cursor;

openraft::declare_raft_types!(
    /// openraft's type configuration for the metadata log.
    pub TypeConfig:
        D = Vec<u8>,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
);
