//! Producer id allocation for InitProducerId: ids are unique across restarts because they are
//! handed out from blocks whose end is persisted (fsynced) before any id of the block is used,
//! the way Kafka's controller allocates producer id blocks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::meta::write_atomically;

/// File in the data directory holding the first producer id not yet reserved.
pub const PRODUCER_ID_FILE: &str = "producer-id-block";
/// Ids reserved per persisted block.
const BLOCK: i64 = 1000;

/// Hands out producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    /// (next id to hand out, end of the reserved block).
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Read the reservation file of `data_dir` (ids start at 0 on a new directory).
    pub fn open(data_dir: &Path) -> std::io::Result<ProducerIds> {
        let path = data_dir.join(PRODUCER_ID_FILE);
        let next = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .find_map(|l| l.strip_prefix("next.producer.id="))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: no next.producer.id", path.display()),
                    )
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIds {
            path,
            state: Mutex::new((next, next)),
        })
    }

    /// A new producer id. Blocking when a new block must be reserved (an fsync per 1000 ids).
    pub fn next(&self) -> std::io::Result<i64> {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if st.0 >= st.1 {
            let end = st.0 + BLOCK;
            write_atomically(&self.path, format!("next.producer.id={end}\n").as_bytes())?;
            st.1 = end;
        }
        let id = st.0;
        st.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIds::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..3).map(|_| a.next().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(a);
        let b = ProducerIds::open(dir.path()).unwrap();
        let next = b.next().unwrap();
        assert!(next >= 3, "reused id {next}");
        for _ in 0..1500 {
            b.next().unwrap();
        }
        drop(b);
        let c = ProducerIds::open(dir.path()).unwrap();
        assert!(c.next().unwrap() > next + 1500);
    }
}
