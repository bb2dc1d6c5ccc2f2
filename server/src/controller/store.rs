//! The metadata log's storage: openraft's log store and state machine, in files of the data
//! directory.
