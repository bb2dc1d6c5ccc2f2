//! Group coordinator: consumer groups and their committed offsets, kept in `__consumer_offsets`.

pub(crate) mod records;
