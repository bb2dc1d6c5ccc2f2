//! The transaction coordinator: transactional ids, their producer ids and epochs, and the state
//! of their transactions, persisted in the compacted internal topic `__transaction_state` with
//! Kafka's own record schemas ([`records`]).

pub(crate) mod records;
